"""Session fixtures of the quantization tests: the tiny YOLOv6 of ``ptq_testing``, prepared,
calibrated and converted once."""
from typing import List

import pytest
import torch
from torch import Tensor, nn

from ptq_testing import realistic_bn, synthetic_images, tiny_yolov6
from qarep_det.quantization import (DeployedModel, PreparedModel, QuantConfig, calibrate, convert_model,
                                    prepare_model)


@pytest.fixture(scope='session')
def calibration_batches() -> List[Tensor]:
    images = synthetic_images(8, seed=1)
    return list(images.split(2))


@pytest.fixture(scope='session')
def test_images() -> Tensor:
    return synthetic_images(2, seed=2)


@pytest.fixture(scope='session')
def yolov6_model(calibration_batches) -> nn.Module:
    torch.manual_seed(0)
    return realistic_bn(tiny_yolov6(), calibration_batches)


@pytest.fixture(scope='session')
def prepared(yolov6_model, calibration_batches) -> PreparedModel:
    prepared = prepare_model(yolov6_model, calibration_batches[0], QuantConfig(observer='minmax'))
    calibrate(prepared, calibration_batches, progress=False)
    return prepared


@pytest.fixture(scope='session')
def quantized(prepared) -> DeployedModel:
    return convert_model(prepared)

"""QuantConfig / build_qconfig_mapping: the weight and activation scheme, backends, skipped layers."""
import re

import pytest
import torch
from torch import nn

from qarep_det.quantization import QuantConfig, build_qconfig_mapping, supported_backends
from qarep_det.quantization.observers import MAEObserver


def test_unsupported_backend_names_the_supported_ones() -> None:
    supported = [b for b in ('onednn', 'qnnpack', 'x86') if b in torch.backends.quantized.supported_engines]
    assert list(supported_backends()) == supported
    message = f"unsupported quantization backend 'fbgemm': this torch supports {', '.join(supported)}"
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        QuantConfig(backend='fbgemm')
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        build_qconfig_mapping(backend='fbgemm')
    with pytest.raises(ValueError, match="unknown observer 'entropy'"):
        QuantConfig(observer='entropy')


def test_mapping_scheme() -> None:
    mapping = QuantConfig(observer='mae', skip_layers=['neck.reduce_layers.0.reparam_conv']).qconfig_mapping()
    default = mapping.global_qconfig
    weight, activation = default.weight(), default.activation()
    assert (weight.dtype, weight.qscheme, weight.quant_min, weight.quant_max) == (
        torch.qint8, torch.per_channel_symmetric, -127, 127)
    assert isinstance(activation, MAEObserver)
    assert (activation.dtype, activation.qscheme, activation.quant_min, activation.quant_max) == (
        torch.quint8, torch.per_tensor_affine, 0, 255)
    transposed = mapping.object_type_qconfigs[nn.ConvTranspose2d].weight()
    assert transposed.qscheme == torch.per_tensor_symmetric
    assert mapping.object_type_qconfigs[torch.sigmoid].activation().scale.item() == 1 / 256  # fixed [0, 1]
    assert mapping.module_name_qconfigs['neck.reduce_layers.0.reparam_conv'] is None


def test_reduce_range_and_description() -> None:
    config = QuantConfig(observer='percentile', reduce_range=True, observer_kwargs=dict(percentile=99.9))
    activation = config.qconfig_mapping().global_qconfig.activation()
    assert (activation.quant_max, activation.percentile) == (127, 99.9)
    described = config.to_dict()
    assert described['activations'] == dict(dtype='quint8', qscheme='per_tensor_affine', bits=8, quant_range=[0, 127])
    assert described['weights']['per_tensor_types'] == ['ConvTranspose2d']
    assert described['observer_kwargs'] == dict(percentile=99.9)

"""The task-free core on a segmentor: mmseg EncoderDecoder with QARepVGG / EfficientRep + RepPAN, fused,
quantized, saved and loaded back; predictions as mmseg's."""
from typing import List

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ptq_testing import synthetic_images
from testing_utils import measure_bn
from qarep_det import reparameterize_model
from qarep_det.quantization import (QuantConfig, ReconstructionConfig, calibrate, convert_model, deploy_fused,
                                    load_deployed, output_sqnr, prepare_model, quantization_params, reconstruct,
                                    save_deployed, save_quantized, simulate_model)
from qarep_det.quantization.tasks.segmentation import DeployedSegmentor

NUM_CLASSES = 5
PREPROCESSOR = dict(type='SegDataPreProcessor', mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=True,
                    pad_val=0, seg_pad_val=255)
FCN_QAREPVGG = dict(
    type='EncoderDecoder', data_preprocessor=PREPROCESSOR,
    backbone=dict(type='QARepVGG', arch='A0', out_indices=(3,), strides=(2, 2, 1, 1)),
    decode_head=dict(type='FCNHead', in_channels=1280, channels=32, num_convs=1, num_classes=NUM_CLASSES,
                     concat_input=False, dropout_ratio=0.1, align_corners=False),
    test_cfg=dict(mode='whole'))
FPN_EFFICIENTREP = dict(
    type='EncoderDecoder', data_preprocessor=PREPROCESSOR,
    backbone=dict(type='EfficientRep', deepen_factor=0.33, widen_factor=0.25, out_indices=(1, 2, 3),
                  block_cfg=dict(type='QARepVGGBlockV2')),
    neck=dict(type='RepPANNeck', deepen_factor=0.33, widen_factor=0.25, block_cfg=dict(type='QARepVGGBlockV2')),
    decode_head=dict(type='FPNHead', in_channels=[32, 64, 128], in_index=[0, 1, 2], feature_strides=[8, 16, 32],
                     channels=32, num_classes=NUM_CLASSES, dropout_ratio=0.1, align_corners=False),
    test_cfg=dict(mode='whole'))
# Output SQNR (dB) of these random-init segmentors (seed 0; BN statistics of the calibration images, beta 0.5),
# measured: FCN on QARepVGG-A0 9.0 (the error grows by ~0.7 dB per block over its 22 untrained blocks; the stem
# alone 38 dB), FPN on EfficientRep + RepPAN 14.1. Floors 2 dB below; a trained model is far better (CamVid).
SQNR_FLOOR_DB = dict(fcn=7.0, fpn=12.0)


@torch.no_grad()
def segmentor(cfg: dict, batches: List[Tensor]) -> nn.Module:
    """``cfg`` built under the mmseg scope, BN statistics measured on ``batches``."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):  # the rest of the session stays in mmdet's scope
        model = MODELS.build(ConfigDict(cfg))
    model.init_weights()
    return measure_bn(model, batches, shift=0.5)


def samples(num: int, height: int, width: int) -> list:
    return [SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                                        padding_size=[0, 0, 0, 0])) for _ in range(num)]


@pytest.fixture(scope='module')
def batches() -> List[Tensor]:
    return list(synthetic_images(6, size=64, seed=1).split(2))


@pytest.mark.parametrize('name, cfg, graph', [('fcn', FCN_QAREPVGG, 'backbone+decode_head'),
                                              ('fpn', FPN_EFFICIENTREP, 'backbone+neck+decode_head')])
def test_segmentor_quantizes_saves_and_loads(name: str, cfg: dict, graph: str, batches, tmp_path) -> None:
    model = segmentor(cfg, batches)
    images = batches[0]
    with torch.no_grad():
        expected = model(images, mode='tensor')
    assert expected.shape == (2, NUM_CLASSES, 8, 8)

    # fused FP32: one conv per block, outputs equal, saved and loaded back
    fused = deploy_fused(model)
    assert type(fused) is DeployedSegmentor and not fused.quantized
    with torch.no_grad():
        assert (fused(images, mode='tensor') - expected).abs().max() < 1e-4
    loaded_fp32 = load_deployed(save_deployed(fused, tmp_path, cfg, images))
    assert type(loaded_fp32) is DeployedSegmentor and loaded_fp32.info['task'] == 'segmentation'
    with torch.no_grad():
        assert (loaded_fp32(images, mode='tensor') - expected).abs().max() < 1e-4

    # INT8: backbone (+ neck) + decode head in one graph, every conv quantized
    prepared = prepare_model(model, images, QuantConfig(observer='minmax'))
    calibrate(prepared, batches, progress=False)
    int8 = convert_model(prepared)
    summary = prepared.summary()
    assert (summary['task'], summary['graph'], summary['float_layers']) == ('segmentation', graph, [])
    assert prepared.layer_names[-1] == 'decode_head.conv_seg'
    assert list(quantization_params(int8)['layers']) == prepared.quantized_layers
    sqnr = output_sqnr(prepared, int8, batches[1:])
    assert sqnr['all'] > SQNR_FLOOR_DB[name] and len(sqnr['per_output']) == 1
    loaded = load_deployed(save_quantized(int8, tmp_path, cfg, images)['model'])
    assert loaded.quantized and loaded.backend == 'x86'
    with torch.no_grad():
        torch.testing.assert_close(loaded(images, mode='tensor'), int8(images, mode='tensor'))

    # predictions as mmseg's: the logits resized to the image, then the argmax
    with torch.no_grad():
        reference = reparameterize_model(model).predict(images, samples(2, 64, 64))
        for r, p in zip(reference, loaded_fp32.predict(images, samples(2, 64, 64))):
            assert p.pred_sem_seg.data.shape == (1, 64, 64)
            assert (p.pred_sem_seg.data == r.pred_sem_seg.data).float().mean().item() > 0.999
        logits = F.interpolate(loaded(images, mode='tensor'), size=(64, 64), mode='bilinear', align_corners=False)
        for i, p in enumerate(loaded.predict(images, samples(2, 64, 64))):
            assert torch.equal(p.pred_sem_seg.data[0], logits[i].argmax(0))


def test_slide_inference_runs_through_the_tensor_path(batches) -> None:
    model = segmentor(dict(FCN_QAREPVGG, test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(24, 24))), batches)
    deployed = deploy_fused(model)
    with torch.no_grad():
        expected = model.predict(batches[0], samples(2, 64, 64))
        actual = deployed.predict(batches[0], samples(2, 64, 64))
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a.seg_logits.data, e.seg_logits.data, atol=1e-4, rtol=1e-4)


def test_segmentor_simulated_at_6_bits(batches) -> None:
    """W6A6 on a segmentor: simulated in float, predicts as mmseg's, loses more than 8 bits."""
    model = segmentor(FPN_EFFICIENTREP, batches)
    sqnr = {}
    for bits in (8, 6):
        prepared = prepare_model(model, batches[0], QuantConfig(weight_bits=bits, activation_bits=bits))
        calibrate(prepared, batches, progress=False)
        simulated = simulate_model(prepared)
        assert type(simulated) is DeployedSegmentor and simulated.info['simulated']
        sqnr[bits] = output_sqnr(prepared, simulated, batches[1:])['all']
        with torch.no_grad():
            predictions = simulated.predict(batches[0], samples(2, 64, 64))
        assert [p.pred_sem_seg.data.shape for p in predictions] == [(1, 64, 64)] * 2
    assert sqnr[8] > SQNR_FLOOR_DB['fpn'] and sqnr[6] < sqnr[8] - 6


def test_segmentor_reconstructed_at_6_bits(batches) -> None:
    """``--method repapq`` on a segmentor (stage groups of backbone, neck and decode head): the W6A6
    model's output error falls on images it was not tuned on."""
    model = segmentor(FPN_EFFICIENTREP, batches)
    prepared = prepare_model(model, batches[0], QuantConfig(weight_bits=6, activation_bits=6))
    calibrate(prepared, batches[:2], progress=False)
    before = output_sqnr(prepared, simulate_model(prepared), batches[2:])['all']
    report = reconstruct(prepared, batches[:2], ReconstructionConfig(iters=20, batch_size=2), progress=False)
    assert {g['layers'][0].split('.')[0] for g in report['groups']} == {'backbone', 'neck', 'decode_head'}
    assert sum(g['error_after'] for g in report['groups']) < sum(g['error_before'] for g in report['groups'])
    assert output_sqnr(prepared, simulate_model(prepared), batches[2:])['all'] > before + 1

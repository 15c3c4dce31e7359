"""Post-training quantization of a tiny YOLOv6: one INT8 graph, mmdet predictions, save/load."""
import json

import pytest
import torch
from mmdet.structures import DetDataSample
from torch import nn

from qarep_det.models.layers import RepModule
from qarep_det.quantization import (QuantConfig, calibrate, convert_model, layer_sqnr, load_deployed,
                                    output_sqnr, prepare_model, quantization_params, save_quantized)
from qarep_det.quantization.tasks.detection import DecodingHeadModule
from qarep_det.quantization.modules import QuantizableSiLU, replace_silu

from ptq_testing import IMAGE_SIZE, NUM_CLASSES, realistic_bn, tiny_yolov6

OUTPUT_SQNR_FLOOR_DB = 15.0
"""INT8 vs FP32 head outputs on the session model: measured 21 dB (minmax, x86)."""
FIRST_LAYER_SQNR_FLOOR_DB = 30.0
"""Input quantization + stem conv alone: measured 36 dB."""


def data_samples(num: int, size: int = IMAGE_SIZE) -> list:
    return [DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.)))
            for _ in range(num)]


def test_quantizable_silu_equals_silu() -> None:
    x = torch.linspace(-8, 8, 101)
    assert torch.allclose(QuantizableSiLU()(x), nn.SiLU()(x), atol=1e-6)
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.SiLU(), nn.Sequential(nn.SiLU(), nn.ReLU()))
    assert replace_silu(model) == 2
    assert not any(isinstance(m, nn.SiLU) for m in model.modules())


def test_every_conv_of_the_tensor_path_is_quantized(prepared, quantized) -> None:
    params = quantization_params(quantized)
    layers = params['layers']
    assert len(prepared.layer_names) == 71  # every conv of backbone, neck and head layers
    assert list(layers) == prepared.layer_names == prepared.quantized_layers
    per_tensor = prepared.per_tensor_weight_layers
    assert per_tensor == ['neck.top_down_fusions.0.upsample', 'neck.top_down_fusions.1.upsample']
    modules = dict(prepared.float_path.named_modules())
    for name, layer in layers.items():
        assert layer['weight_dtype'] == 'qint8'
        if name in per_tensor:  # torch stores symmetric int8 weights as affine with zero point 0
            assert layer['weight_qscheme'] == 'per_tensor_affine' and layer['weight_zero_point'] == 0
        else:
            assert layer['weight_qscheme'] == 'per_channel_affine', name
            assert len(layer['weight_scale']) == modules[name].out_channels
            assert set(layer['weight_zero_point']) == {0}
    relu_convs = [m for m in prepared.float_path.modules()
                  if isinstance(m, RepModule) and isinstance(m.act, nn.ReLU)]
    assert sum(layer['type'] == 'ConvReLU2d' for layer in layers.values()) == len(relu_convs) > 40
    assert not any('BatchNorm' in type(m).__name__ for m in prepared.observed.modules())
    assert prepared.summary()['graph'] == 'backbone+neck+head_layers' and prepared.float_layers == []


def test_one_graph_dequantized_only_around_silu_and_at_the_outputs(quantized) -> None:
    """Backbone, neck and head layers form one INT8 graph; float only where SiLU runs (default)."""
    graph = quantized.tensor_path.graph
    nodes = list(graph.graph.nodes)
    silu = [n for n in nodes if n.op == 'call_module' and isinstance(graph.get_submodule(n.target), nn.SiLU)]
    assert len(silu) == 9  # stem, cls conv and reg conv of 3 levels
    for node in nodes:
        if node.op == 'call_method' and node.target == 'dequantize':
            assert all(user in silu or user.op == 'output' for user in node.users)
        if node.op == 'call_function' and node.target is torch.quantize_per_tensor:
            assert node.args[0].op == 'placeholder' or node.args[0] in silu
    assert sum(n.target == 'dequantize' for n in nodes) == 9 + 6  # + cls_scores and bbox_preds of 3 levels
    assert sum(n.target is torch.quantize_per_tensor for n in nodes) == 1 + 9  # the image + after each SiLU


def test_int8_outputs_close_to_fp32(prepared, quantized, test_images) -> None:
    sqnr = output_sqnr(prepared, quantized, [test_images])
    assert sqnr['all'] > OUTPUT_SQNR_FLOOR_DB
    assert len(sqnr['per_output']) == 2 and min(sqnr['per_output']) > OUTPUT_SQNR_FLOOR_DB - 5
    layers = layer_sqnr(prepared, quantized, [test_images])
    assert list(layers) == prepared.layer_names
    assert layers['backbone.stem.reparam_conv'] > FIRST_LAYER_SQNR_FLOOR_DB


def test_predict_gives_det_data_samples_inside_the_image(yolov6_model, quantized, test_images) -> None:
    results = quantized.predict(test_images, data_samples(2))
    assert len(results) == 2 and all(isinstance(r, DetDataSample) for r in results)
    for result in results:
        pred = result.pred_instances
        assert len(pred.bboxes) > 0 and pred.bboxes.shape[1] == 4
        assert pred.bboxes.min() >= 0 and pred.bboxes.max() <= IMAGE_SIZE
        assert ((pred.scores >= 0.05) & (pred.scores <= 1)).all() and (pred.labels < NUM_CLASSES).all()
    raw = quantized(test_images, mode='tensor')  # mmdet's tensor mode: the head's raw outputs
    assert [tuple(t.shape) for t in raw[0]] == [(2, NUM_CLASSES, s, s) for s in (12, 6, 3)]
    loader_batch = dict(inputs=[(image * 255).byte() for image in test_images], data_samples=data_samples(2))
    via_test_step = quantized.test_step(loader_batch)  # what mmengine's test loop calls
    assert len(via_test_step) == 2 and len(via_test_step[0].pred_instances) > 0


def test_dfl_head_decodes_quantized_distributions(calibration_batches) -> None:
    """YOLOv6-M/L regress distributions (reg_max=16): the DFL integral runs in float after the graph."""
    torch.manual_seed(0)
    model = realistic_bn(tiny_yolov6(reg_max=16), calibration_batches[:1])
    images = calibration_batches[0][:, :, :64, :64]
    prepared = prepare_model(model, images)
    calibrate(prepared, [images], progress=False)
    quantized = convert_model(prepared)
    assert isinstance(quantized.bbox_head.head_module, DecodingHeadModule)
    assert quantized(images, mode='tensor')[1][0].shape == (2, 4 * 17, 8, 8)
    result = quantized.predict(images, data_samples(2, size=64))[0]
    assert len(result.pred_instances) > 0 and result.pred_instances.bboxes.max() <= 64


def test_save_load_round_trip(quantized, test_images, tmp_path) -> None:
    model_cfg = dict(type='YOLOv6', data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.],
                                                           std=[255., 255., 255.], bgr_to_rgb=True,
                                                           pad_size_divisor=32),
                     bbox_head=dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule',
                                                                        num_classes=NUM_CLASSES,
                                                                        widen_factor=0.25, reg_max=0)),
                     test_cfg=dict(nms_pre=1000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.65),
                                   max_per_img=100))
    paths = save_quantized(quantized, tmp_path, model_cfg, test_images[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model_int8.pt', 'quant_params.json']
    params = json.loads(paths['params'].read_text())
    assert params['config']['backend'] == 'x86' and len(params['layers']) == 71
    assert params['activations']['backbone_stem_reparam_conv_input_scale_0'] > 0
    loaded = load_deployed(paths['model'])
    images = torch.rand(3, 3, 64, 128)  # another batch size and resolution than traced
    for a, b in zip(quantized(images, mode='tensor'), loaded(images, mode='tensor')):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    expected, actual = quantized.predict(test_images, data_samples(2)), loaded.predict(test_images, data_samples(2))
    for e, a in zip(expected, actual):
        assert torch.equal(e.pred_instances.bboxes, a.pred_instances.bboxes)
        assert torch.equal(e.pred_instances.labels, a.pred_instances.labels)


def test_skip_layers_stay_float(yolov6_model, calibration_batches, test_images) -> None:
    skip = ('backbone.stem.reparam_conv', 'bbox_head.head_module.cls_preds.0')
    prepared = prepare_model(yolov6_model, calibration_batches[0], QuantConfig(skip_layers=skip))
    loader_batch = dict(inputs=[(image * 255).byte() for image in calibration_batches[0]],  # a dataloader's
                        data_samples=data_samples(2))
    assert calibrate(prepared, [loader_batch, calibration_batches[1]], progress=False) == 4
    quantized = convert_model(prepared)
    assert prepared.float_layers == list(skip)
    assert set(quantization_params(quantized)['layers']) == set(prepared.layer_names) - set(skip)
    for name in skip:
        params = list(quantized.tensor_path.graph.get_submodule(name).parameters())
        assert params and all(p.dtype == torch.float32 for p in params)
    assert output_sqnr(prepared, quantized, [test_images])['all'] > OUTPUT_SQNR_FLOOR_DB
    with pytest.raises(ValueError, match='skip_layers not in the quantized graph: backbone.nope'):
        prepare_model(yolov6_model, test_images, QuantConfig(skip_layers=('backbone.nope',)))


def test_a_model_without_an_adapter_is_refused() -> None:
    with pytest.raises(TypeError, match='Conv2d has no quantization adapter: supported are mmdet single-stage'):
        prepare_model(nn.Conv2d(3, 3, 1), torch.rand(1, 3, 32, 32))


@pytest.mark.slow
@pytest.mark.parametrize('observer', ['histogram', 'percentile', 'mae'])
def test_each_observer_quantizes_yolov6(yolov6_model, calibration_batches, test_images, observer) -> None:
    prepared = prepare_model(yolov6_model, calibration_batches[0], QuantConfig(observer=observer))
    calibrate(prepared, calibration_batches, progress=False)
    assert output_sqnr(prepared, convert_model(prepared), [test_images])['all'] > OUTPUT_SQNR_FLOOR_DB


@pytest.mark.slow
def test_quantized_silu_removes_the_dequantize_hops(yolov6_model, calibration_batches, test_images) -> None:
    prepared = prepare_model(yolov6_model, calibration_batches[0], silu='quantized')
    calibrate(prepared, calibration_batches, progress=False)
    quantized = convert_model(prepared)
    nodes = list(quantized.tensor_path.graph.graph.nodes)
    assert sum(n.target is torch.quantize_per_tensor for n in nodes) == 1  # the image
    assert sum(n.target == 'dequantize' for n in nodes) == 6  # the outputs only
    assert sum(n.target is torch.sigmoid for n in nodes) == 9  # SiLU = quantized sigmoid * x
    assert output_sqnr(prepared, quantized, [test_images])['all'] > OUTPUT_SQNR_FLOOR_DB


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['qnnpack', 'onednn'])
def test_other_backends(yolov6_model, calibration_batches, test_images, backend) -> None:
    if backend not in torch.backends.quantized.supported_engines:
        pytest.skip(f'{backend} not in this torch build')
    engine = torch.backends.quantized.engine
    prepared = prepare_model(yolov6_model, calibration_batches[0], QuantConfig(backend=backend))
    calibrate(prepared, calibration_batches, progress=False)
    assert output_sqnr(prepared, convert_model(prepared), [test_images])['all'] > OUTPUT_SQNR_FLOOR_DB
    assert torch.backends.quantized.engine == engine  # restored after conversion and inference


def test_activations_no_int8_scale_can_hold_are_refused(calibration_batches) -> None:
    model = realistic_bn(tiny_yolov6(), calibration_batches, shift=1e9)  # a broken float model
    prepared = prepare_model(model, calibration_batches[0])
    calibrate(prepared, calibration_batches, progress=False)
    with pytest.raises(ValueError, match=r'the activations of backbone\.stem\.reparam_conv reach \[1e\+09, 1e\+09\] in '
                                         r'calibration: too large for INT8 \(limit 1e\+08\)'):
        convert_model(prepared)

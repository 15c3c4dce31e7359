"""A stock mmdet RetinaNet with a QARepVGG-A0 backbone: backbone + neck INT8, head float."""
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config

from qarep_det.quantization import calibrate, convert_model, output_sqnr, prepare_model, quantization_params


def test_retinanet_qarepvgg_a0_backbone_and_neck_quantize_and_run(repo_root) -> None:
    cfg = Config.fromfile(str(repo_root / 'configs' / 'retinanet_qarepvgg-a0_fpn_coco.py'))
    cfg.model.test_cfg.score_thr = 0.0  # keep detections from the untrained model
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    batches = [torch.rand(1, 3, 96, 128) for _ in range(2)]
    prepared = prepare_model(model.eval(), batches[0])
    calibrate(prepared, batches, progress=False)
    quantized = convert_model(prepared)

    summary = prepared.summary()
    assert (summary['task'], summary['graph']) == ('detection', 'backbone+neck')
    assert len(prepared.quantized_layers) == 22 + 3 + 3 + 2  # fused blocks, FPN lateral, output, extra convs
    assert all(n.startswith(('backbone.', 'neck.')) for n in prepared.quantized_layers)
    assert len(prepared.float_layers) == 10 and all(n.startswith('bbox_head.') for n in prepared.float_layers)
    assert list(quantization_params(quantized)['layers']) == prepared.quantized_layers  # execution order
    sqnr = output_sqnr(prepared, quantized, batches[:1])
    assert sqnr['all'] > 10.0 and len(sqnr['per_output']) == 2

    sample = DetDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128), scale_factor=(1., 1.)))
    result = quantized.predict(batches[0], [sample])[0]
    boxes = result.pred_instances.bboxes
    assert len(boxes) > 0 and boxes.min() >= 0 and boxes[:, 0::2].max() <= 128 and boxes[:, 1::2].max() <= 96

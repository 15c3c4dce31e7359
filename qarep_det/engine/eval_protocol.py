"""Evaluation protocols selected by one config value, ``eval_protocol``.

Provenance: the official YOLOv6 ``tools/eval.py --reproduce_640_eval`` (meituan/YOLOv6 v3.0):
per-model ``shrink_size`` from ``configs/experiment/eval_640_repro.py``, the longer side resized
to ``640 - shrink_size`` with INTER_AREA, a 640x640 letterbox, confidence threshold 0.03, NMS IoU
0.65 over every (box, class) pair above it (``multi_label=True``), 30000 candidates before NMS and
300 detections after (``yolov6/utils/nms.py``).

A config file is evaluated once, so a value set by a derived config or ``--cfg-options`` cannot
re-run the base's arithmetic. The configs therefore hold the settings of each protocol
(``eval_protocols``) and the chosen name (``eval_protocol``), and :func:`apply_eval_protocol`
rewrites the evaluation pipelines and ``model.test_cfg`` before anything is built.
:class:`qarep_det.engine.runner.YOLOv6Runner` (``runner_type`` in the COCO configs, honoured by
``tools/train.py`` and ``tools/test.py``) calls it, so ``--cfg-options eval_protocol=yolov6_640``
is all it takes.
"""
import copy

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..utils.errors import BadInput

EVAL_PROTOCOLS = ('letterbox', 'yolov6_640')
YOLOV6_640_KEYS = ('shrink_size', 'score_thr', 'iou_threshold', 'nms_pre', 'max_per_img')


def apply_eval_protocol(cfg: Config) -> Config:
    """``cfg`` with its ``eval_protocol`` applied (a copy; ``cfg`` itself is not changed).

    ``'letterbox'`` (or no ``eval_protocol``) is the config as written. ``'yolov6_640'`` replaces
    every ``LetterResize`` of the val and test pipelines by ``YOLOv6EvalResize`` (same size and
    padding, ``shrink_size`` from ``cfg.eval_protocols.yolov6_640``) and sets ``score_thr``,
    ``nms.iou_threshold``, ``nms_pre`` and ``max_per_img`` of ``model.test_cfg`` from there.

    Args:
        cfg: A loaded config.

    Returns:
        The config to build from.

    Raises:
        BadInput: An unknown protocol, missing settings, or an evaluation pipeline without a
            ``LetterResize`` step to replace.
    """
    protocol = cfg.get('eval_protocol', 'letterbox')
    if protocol not in EVAL_PROTOCOLS:
        raise BadInput(f'eval_protocol must be one of {", ".join(EVAL_PROTOCOLS)}, got {protocol!r}')
    if protocol == 'letterbox':
        return cfg
    settings = (cfg.get('eval_protocols') or {}).get(protocol) or {}
    missing = [key for key in YOLOV6_640_KEYS if key not in settings]
    if missing:
        raise BadInput(f'eval_protocol {protocol}: eval_protocols.{protocol} lacks {", ".join(missing)}')
    cfg = copy.deepcopy(cfg)
    done = set()
    for name in ('val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader:
            continue
        pipeline = loader.get('dataset', {}).get('pipeline')
        if pipeline is None or id(pipeline) in done:
            continue
        done.add(id(pipeline))
        steps = [i for i, step in enumerate(pipeline) if step.get('type') in ('LetterResize', 'YOLOv6EvalResize')]
        if not steps:
            raise BadInput(f'eval_protocol {protocol}: {name}.dataset.pipeline has no LetterResize step to replace')
        for i in steps:
            pipeline[i] = ConfigDict(type='YOLOv6EvalResize', scale=pipeline[i].get('scale', 640),
                                     shrink_size=settings['shrink_size'], pad_val=pipeline[i].get('pad_val', 114))
    test_cfg = cfg.model.get('test_cfg')
    if test_cfg is None:
        raise BadInput(f'eval_protocol {protocol}: the model config has no test_cfg')
    test_cfg.update(score_thr=settings['score_thr'], nms_pre=settings['nms_pre'], max_per_img=settings['max_per_img'])
    test_cfg.setdefault('nms', dict(type='nms'))['iou_threshold'] = settings['iou_threshold']
    print_log(f'evaluation protocol {protocol}: longer side shrunk by {settings["shrink_size"]} (INTER_AREA), '
              f'letterbox, score > {settings["score_thr"]}, NMS IoU {settings["iou_threshold"]}, '
              f'{settings["max_per_img"]} detections', logger='current')
    return cfg

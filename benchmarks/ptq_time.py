"""How long ``tools/ptq.py --int8`` takes for YOLOv6-S at 640 with 256 calibration images (issue 4: < 5 min).

The checkpoint: ``configs/yolov6s_qarep.py`` with 3 classes, BN statistics measured on synthetic
images (an untrained network's BN would leave the activations unlike a trained one's), saved with
its config as training saves it. The data: the project's synthetic set rendered at 640x640 (256
training images for calibration, 4 validation images), read through the COCO config's own test
pipeline (letterbox to 640). The run is the whole pipeline of ``tools/ptq.py`` (load, fuse and
check, prepare, calibrate, convert and save, diagnostics); evaluation and latency are timed apart
and left out of the PTQ time. Writes ``benchmarks/results/ptq_time.{json,md}`` atomically.

Usage: ``python benchmarks/ptq_time.py [--model s] [--calib-images 256] [--observer minmax]``
"""
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from common import RESULTS, ROOT, write_results
from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.ptq import PTQOptions, run_ptq
from qarep_det.ptq.pipeline import ptq_seconds
from qarep_det.quantization import OBSERVERS
from qarep_det.utils import OneLineParser, positive_int, run_tool

CLASSES = ('circle', 'square', 'triangle')


def write_config(model: str, data_root: Path, path: Path) -> Config:
    """The COCO config of ``model`` pointed at the synthetic set (3 classes)."""
    metainfo = dict(classes=CLASSES)
    path.write_text('\n'.join([
        f"_base_ = ['{ROOT / 'configs' / f'yolov6{model}_qarep.py'}']",
        f'metainfo = {metainfo!r}',
        "model = dict(bbox_head=dict(head_module=dict(num_classes=3)))",
        f"train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(dataset=dict("
        f"data_root='{data_root}/', metainfo=metainfo, ann_file='annotations/instances_train.json', "
        "data_prefix=dict(img='train/'))))",
        f"val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root='{data_root}/', "
        "metainfo=metainfo, ann_file='annotations/instances_val.json', data_prefix=dict(img='val/')))",
        f"val_evaluator = dict(ann_file='{data_root}/annotations/instances_val.json')", '']))
    return Config.fromfile(str(path))


@torch.no_grad()
def write_checkpoint(cfg: Config, path: Path) -> None:
    """Weights of the config's initialization with BN statistics measured on 8 synthetic images."""
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches
    model.train()
    images = torch.rand(8, 3, 640, 640)
    for batch in images.split(2):
        model(batch, mode='tensor')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(cfg=cfg.pretty_text)), path)


def main(argv=None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='s', choices=['n', 's', 'm'])
    parser.add_argument('--calib-images', type=positive_int, default=256)
    parser.add_argument('--observer', default='minmax', choices=list(OBSERVERS))
    parser.add_argument('--work-dir', type=Path, default=ROOT / 'work_dirs' / 'bench_ptq_time')
    parser.add_argument('--out', type=Path, default=RESULTS / 'ptq_time')
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    work = args.work_dir.resolve()
    data_root = generate_synthetic_coco(work / 'synthetic640', num_train=args.calib_images, num_val=4,
                                        image_size=(640, 640), seed=0)['data_root']
    cfg = write_config(args.model, data_root, work / f'yolov6{args.model}_qarep_synthetic640.py')
    checkpoint = work / f'yolov6{args.model}_bn_calibrated.pth'
    if not checkpoint.is_file():
        write_checkpoint(cfg, checkpoint)
    out = work / f'ptq_{args.observer}'
    shutil.rmtree(out, ignore_errors=True)  # the benchmark's own output of an earlier run
    start = time.perf_counter()
    report = run_ptq(PTQOptions(checkpoint=str(checkpoint), out=str(out), int8=True, calib_images=args.calib_images,
                                observer=args.observer, max_eval_images=2, latency_repeats=2, progress=False))
    wall = time.perf_counter() - start
    timings = report['timings_s']
    result = dict(model=f'yolov6{args.model}_qarep', input=640, calib_images=report['calibration']['images'],
                  observer=args.observer, ptq_seconds=round(ptq_seconds(timings), 1), timings_s=timings,
                  wall_seconds_incl_eval_of_2_images=round(wall, 1), target_seconds=300,
                  machine=f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
                          f'{torch.get_num_threads()} threads, torch {torch.__version__}',
                  load_average_after=list(os.getloadavg()))
    md = '\n'.join([
        '# PTQ time (tools/ptq.py --int8, without evaluation)', '',
        f"{result['model']} at 640x640, {result['calib_images']} calibration images, observer "
        f"{args.observer}, {result['machine']}: **{result['ptq_seconds']:.0f} s** (target < 300 s).", '',
        '| stage | seconds |', '|---|---|', *[f'| {k} | {v:.1f} |' for k, v in timings.items()], '',
        'evaluate and latency ran on 2 images only and are not part of the PTQ time. '
        'Written by `python benchmarks/ptq_time.py`.', ''])
    write_results(args.out, result, md)
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('ptq_time.py', main))

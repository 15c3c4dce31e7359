"""Stand-ins of the official YOLOv6 v3.0 modules, for writing "published" checkpoints without the official code.

Each class has the official name, module path, submodule names, parameter names and shapes
(``yolov6.layers.common``, ``yolov6.models.{efficientrep,reppan,effidehead,yolo}``,
``yolov6.models.heads.{effidehead_fuseab,effidehead_distill_ns}`` at e86a483)
and no behaviour (no ``forward``): enough to pickle a checkpoint the way the official trainer
does (``torch.save({'model': model.half(), 'ema': ...})``). ``published_classes()`` puts a fake
``yolov6`` package into ``sys.modules`` for the time of the ``torch.save`` so pickle records the
official class paths; nothing of it is importable afterwards.
``tests/models/converters/test_yolov6_official.py`` checks the key names and shapes against the
official code when that is available.
"""
import contextlib
import math
import sys
import types
from typing import Iterator, Optional, Sequence

import torch
from torch import nn

_MODULES = {}


def _official(module: str):
    """Class decorator: give the class the official module path."""
    def register(cls):
        cls.__module__ = module
        _MODULES.setdefault(module, []).append(cls)
        return cls
    return register


@contextlib.contextmanager
def published_classes() -> Iterator[None]:
    """A fake ``yolov6`` package in ``sys.modules`` (removed afterwards) so pickle finds the classes."""
    names = sorted({'.'.join(m.split('.')[:i]) for m in _MODULES for i in range(1, m.count('.') + 2)})
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for name in names:
            module = types.ModuleType(name)
            for cls in _MODULES.get(name, ()):
                setattr(module, cls.__name__, cls)
            sys.modules[name] = module
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


COMMON = 'yolov6.layers.common'
ACTIVATIONS = {'relu': nn.ReLU(), 'silu': nn.SiLU()}
"""Shared by every ConvModule, as the official ``activation_table``."""


@_official(COMMON)
class ConvModule(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, s: int, act: Optional[str], padding: Optional[int] = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2 if padding is None else padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        if act is not None:
            self.act = ACTIVATIONS[act]
        self.activation_type = act

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:  # the name fuse_model binds to ``forward``
        raise NotImplementedError


@_official(COMMON)
class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.block = ConvModule(cin, cout, kernel_size, stride, 'relu')


@_official(COMMON)
class ConvBNSiLU(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.block = ConvModule(cin, cout, kernel_size, stride, 'silu')


@_official(COMMON)
class RepVGGBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.deploy = False
        self.nonlinearity = nn.ReLU()
        self.se = nn.Identity()
        self.rbr_identity = nn.BatchNorm2d(cin, eps=1e-3, momentum=0.03) if cin == cout and stride == 1 else None
        self.rbr_dense = ConvModule(cin, cout, 3, stride, None, 1)
        self.rbr_1x1 = ConvModule(cin, cout, 1, stride, None, 0)


@_official(COMMON)
class QARepVGGBlock(RepVGGBlock):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel_size, stride)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.rbr_1x1 = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.rbr_identity = nn.Identity() if cin == cout and stride == 1 else None


@_official(COMMON)
class QARepVGGBlockV2(QARepVGGBlock):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel_size, stride)
        self.rbr_avg = nn.AvgPool2d(3, stride, 1) if cin == cout and stride == 1 else None


@_official(COMMON)
class BottleRep(nn.Module):
    def __init__(self, cin: int, cout: int, basic_block: type) -> None:
        super().__init__()
        self.conv1 = basic_block(cin, cout)
        self.conv2 = basic_block(cout, cout)
        self.shortcut = cin == cout
        self.alpha = nn.Parameter(torch.ones(1))


@_official(COMMON)
class RepBlock(nn.Module):
    def __init__(self, cin: int, cout: int, n: int, block: type, basic_block: Optional[type] = None) -> None:
        super().__init__()
        if block is BottleRep:
            self.conv1 = BottleRep(cin, cout, basic_block)
            n = n // 2
            self.block = nn.Sequential(*(BottleRep(cout, cout, basic_block) for _ in range(n - 1))) if n > 1 else None
        else:
            self.conv1 = block(cin, cout)
            self.block = nn.Sequential(*(block(cout, cout) for _ in range(n - 1))) if n > 1 else None


@_official(COMMON)
class BepC3(nn.Module):
    def __init__(self, cin: int, cout: int, n: int, e: float, block: type) -> None:
        super().__init__()
        hidden = int(cout * e)
        conv = ConvBNSiLU if block is ConvBNSiLU else ConvBNReLU
        self.cv1, self.cv2, self.cv3 = conv(cin, hidden, 1, 1), conv(cin, hidden, 1, 1), conv(2 * hidden, cout, 1, 1)
        self.m = RepBlock(hidden, hidden, n, BottleRep, block)


@_official(COMMON)
class SPPFModule(nn.Module):
    def __init__(self, cin: int, cout: int, block: type) -> None:
        super().__init__()
        hidden = cin // 2
        self.cv1, self.cv2 = block(cin, hidden, 1, 1), block(hidden * 4, cout, 1, 1)
        self.m = nn.MaxPool2d(5, 1, 2)


@_official(COMMON)
class SimSPPF(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sppf = SPPFModule(cin, cout, ConvBNReLU)


@_official(COMMON)
class SPPF(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sppf = SPPFModule(cin, cout, ConvBNSiLU)


@_official(COMMON)
class CSPSPPFModule(nn.Module):
    def __init__(self, cin: int, cout: int, block: type) -> None:
        super().__init__()
        c = int(cout * 0.5)
        self.cv1, self.cv2, self.cv3, self.cv4 = block(cin, c, 1, 1), block(cin, c, 1, 1), block(c, c, 3, 1), \
            block(c, c, 1, 1)
        self.m = nn.MaxPool2d(5, 1, 2)
        self.cv5, self.cv6, self.cv7 = block(4 * c, c, 1, 1), block(c, c, 3, 1), block(2 * c, cout, 1, 1)


@_official(COMMON)
class SimCSPSPPF(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.cspsppf = CSPSPPFModule(cin, cout, ConvBNReLU)


@_official(COMMON)
class Transpose(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.upsample_transpose = nn.ConvTranspose2d(cin, cout, 2, 2, bias=True)


@_official(COMMON)
class BiFusion(nn.Module):
    def __init__(self, cins: Sequence[int], cout: int) -> None:
        super().__init__()
        self.cv1, self.cv2 = ConvBNReLU(cins[0], cout, 1, 1), ConvBNReLU(cins[1], cout, 1, 1)
        self.cv3 = ConvBNReLU(cout * 3, cout, 1, 1)
        self.upsample = Transpose(cout, cout)
        self.downsample = ConvBNReLU(cout, cout, 3, 2)


def _stage(block: type, csp_e: Optional[float], cin: int, cout: int, n: int) -> nn.Module:
    return RepBlock(cin, cout, n, block) if csp_e is None else BepC3(cin, cout, n, csp_e, block)


@_official('yolov6.models.efficientrep')
class EfficientRep(nn.Module):
    def __init__(self, ch: Sequence[int], reps: Sequence[int], block: type, csp_e: Optional[float] = None) -> None:
        super().__init__()
        self.fuse_P2 = True
        self.stem = block(3, ch[0], 3, 2)
        for i in range(4):
            layers = [block(ch[i], ch[i + 1], 3, 2), _stage(block, csp_e, ch[i + 1], ch[i + 1], reps[i + 1])]
            if i == 3:
                if csp_e is None:
                    layers.append(SimCSPSPPF(ch[4], ch[4]))
                else:
                    layers.append(SPPF(ch[4], ch[4]) if block is ConvBNSiLU else SimSPPF(ch[4], ch[4]))
            setattr(self, f'ERBlock_{i + 2}', nn.Sequential(*layers))


@_official('yolov6.models.efficientrep')
class CSPBepBackbone(EfficientRep):
    pass


@_official('yolov6.models.reppan')
class RepBiFPANNeck(nn.Module):
    def __init__(self, ch: Sequence[int], reps: Sequence[int], block: type, csp_e: Optional[float] = None) -> None:
        super().__init__()
        self.reduce_layer0 = ConvBNReLU(ch[4], ch[5], 1, 1)
        self.Bifusion0 = BiFusion([ch[3], ch[2]], ch[5])
        self.Rep_p4 = _stage(block, csp_e, ch[5], ch[5], reps[5])
        self.reduce_layer1 = ConvBNReLU(ch[5], ch[6], 1, 1)
        self.Bifusion1 = BiFusion([ch[2], ch[1]], ch[6])
        self.Rep_p3 = _stage(block, csp_e, ch[6], ch[6], reps[6])
        self.downsample2 = ConvBNReLU(ch[6], ch[7], 3, 2)
        self.Rep_n3 = _stage(block, csp_e, ch[6] + ch[7], ch[8], reps[7])
        self.downsample1 = ConvBNReLU(ch[8], ch[9], 3, 2)
        self.Rep_n4 = _stage(block, csp_e, ch[5] + ch[9], ch[10], reps[8])


@_official('yolov6.models.reppan')
class CSPRepBiFPANNeck(RepBiFPANNeck):
    pass


ANCHORS = ((10, 13, 19, 19, 33, 23), (30, 61, 59, 59, 59, 119), (116, 90, 185, 185, 373, 326))
"""``anchors_init`` of the official v3.0 configs (pixels)."""


@_official('yolov6.models.effidehead')
class Detect(nn.Module):
    def __init__(self, ch: Sequence[int], num_classes: int, reg_max: int) -> None:
        super().__init__()
        # build_network passes use_dfl but not reg_max: the projection always has Detect's default 16 + 1 bins
        self.nc, self.nl, self.reg_max, self.use_dfl = num_classes, 3, 16, reg_max > 0
        self.stride = torch.tensor([8, 16, 32])
        self.grid = [torch.zeros(1)] * 3
        self.proj_conv = nn.Conv2d(self.reg_max + 1, 1, 1, bias=False)
        self.stems = nn.ModuleList(ConvBNSiLU(c, c, 1, 1) for c in ch)
        self.cls_convs = nn.ModuleList(ConvBNSiLU(c, c, 3, 1) for c in ch)
        self.reg_convs = nn.ModuleList(ConvBNSiLU(c, c, 3, 1) for c in ch)
        self.cls_preds = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in ch)
        self.reg_preds = nn.ModuleList(nn.Conv2d(c, 4 * (reg_max + 1), 1) for c in ch)
        self.proj = nn.Parameter(torch.linspace(0, self.reg_max, self.reg_max + 1), requires_grad=False)
        with torch.no_grad():
            self.proj_conv.weight.copy_(self.proj.view(1, -1, 1, 1))


class DetectFuseAB(Detect):
    """The anchor-aided head (``--fuse_ab``): ``cls_preds_ab`` / ``reg_preds_ab`` after ``reg_preds``, 3 anchors."""

    def __init__(self, ch: Sequence[int], num_classes: int, reg_max: int,
                 anchors: Sequence[Sequence[float]] = ANCHORS) -> None:
        super().__init__(ch, num_classes, reg_max)
        self.na = len(anchors[0]) // 2
        self.anchors_init = (torch.tensor(anchors) / self.stride[:, None]).reshape(self.nl, self.na, 2)
        self.cls_preds_ab = nn.ModuleList(nn.Conv2d(c, num_classes * self.na, 1) for c in ch)
        self.reg_preds_ab = nn.ModuleList(nn.Conv2d(c, 4 * self.na, 1) for c in ch)


DetectFuseAB.__name__ = DetectFuseAB.__qualname__ = 'Detect'  # pickled as the official class name
DetectFuseAB = _official('yolov6.models.heads.effidehead_fuseab')(DetectFuseAB)


class DetectDistillNS(Detect):
    """The N/S self-distillation head (``--distill``, as the published N/S checkpoints hold it):
    ``reg_preds_dist`` (17 bins per side) registered before ``reg_preds`` (4 distances)."""

    def __init__(self, ch: Sequence[int], num_classes: int, reg_max: int = 16) -> None:
        super().__init__(ch, num_classes, reg_max)
        del self.reg_preds
        self.reg_preds_dist = nn.ModuleList(nn.Conv2d(c, 4 * (reg_max + 1), 1) for c in ch)
        self.reg_preds = nn.ModuleList(nn.Conv2d(c, 4, 1) for c in ch)


DetectDistillNS.__name__ = DetectDistillNS.__qualname__ = 'Detect'
DetectDistillNS = _official('yolov6.models.heads.effidehead_distill_ns')(DetectDistillNS)


@_official('yolov6.models.yolo')
class Model(nn.Module):
    def __init__(self, backbone: nn.Module, neck: nn.Module, detect: nn.Module) -> None:
        super().__init__()
        self.backbone, self.neck, self.detect = backbone, neck, detect
        self.stride = detect.stride


SCALES = {'N': (0.33, 0.25, None, 0), 'S': (0.33, 0.5, None, 0), 'M': (0.6, 0.75, 2 / 3, 16), 'L': (1.0, 1.0, 0.5, 16)}
BLOCKS = {'repvgg': RepVGGBlock, 'qarepvgg': QARepVGGBlock, 'qarepvggv2': QARepVGGBlockV2, 'conv_silu': ConvBNSiLU}


def build_published(size: str, mode: str, num_classes: int = 80, fuse_ab: bool = False,
                    distill: bool = False) -> Model:
    """The official v3.0 network ``size`` (N/S/M/L) in training ``mode`` as stand-ins (random weights);
    ``fuse_ab``: as step 1 of the official recipe trains it (anchor-aided head, ``reg_max=16`` for every size);
    ``distill``: N/S as step 2 trains and the release publishes them (self-distillation head)."""
    depth, width, csp_e, reg_max = SCALES[size]
    reg_max = 16 if fuse_ab else reg_max
    ch = [math.ceil(c * width / 8) * 8 for c in (64, 128, 256, 512, 1024, 256, 128, 128, 256, 256, 512)]
    reps = [max(round(n * depth), 1) if n > 1 else n for n in (1, 6, 12, 18, 6, 12, 12, 12, 12)]
    block = BLOCKS[mode]
    backbone = (EfficientRep if csp_e is None else CSPBepBackbone)(ch, reps, block, csp_e)
    neck = (RepBiFPANNeck if csp_e is None else CSPRepBiFPANNeck)(ch, reps, block, csp_e)
    if distill:
        detect = DetectDistillNS([ch[6], ch[8], ch[10]], num_classes)
    else:
        detect = (DetectFuseAB if fuse_ab else Detect)([ch[6], ch[8], ch[10]], num_classes, reg_max)
    model = Model(backbone, neck, detect)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point() and 'proj' not in name:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith('running_var')
                        else 0.1 * torch.randn(t.shape, generator=g))
    return model


def fuse_published(model: Model) -> Model:
    """The deploy form, as ``fuse_model`` + ``switch_to_deploy`` leave it: each ``ConvModule`` one biased
    conv (and ``forward`` bound to ``forward_fuse``), each rep block an ``rbr_reparam`` conv (QARep keeps
    ``bn``). Only names and shapes matter here; the values are random."""
    for module in list(model.modules()):
        if isinstance(module, ConvModule):
            conv = module.conv
            module.conv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                    conv.padding, bias=True)
            del module.bn
            module.forward = module.forward_fuse  # pickled as getattr(module, 'forward_fuse')
        elif isinstance(module, RepVGGBlock):
            dense = module.rbr_dense.conv
            module.rbr_reparam = nn.Conv2d(dense.in_channels, dense.out_channels, 3, dense.stride, 1, bias=True)
            for name in ('rbr_dense', 'rbr_1x1', 'rbr_identity', 'rbr_avg'):
                if hasattr(module, name):
                    delattr(module, name)
            module.deploy = True
    return model

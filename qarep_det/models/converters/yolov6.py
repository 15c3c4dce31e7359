"""Convert an official YOLOv6 v3.0 checkpoint (N/S/M/L) into an mmengine checkpoint of our configs.

The source is read by :mod:`.yolov6_pickle` (nothing in it runs). The variant is recognised from
the pickled classes (``RepVGGBlock`` / ``QARepVGGBlock`` / ``QARepVGGBlockV2`` = the training
modes ``repvgg`` / ``qarepvgg`` / ``qarepvggv2``, plain ``ConvBNSiLU`` = L's ``conv_silu``) and
the stem width (16 / 32 / 48 / 64 = N / S / M / L); a head with ``cls_preds_ab`` / ``reg_preds_ab``
(anchor-aided training, official ``--fuse_ab``) is converted into the matching ``*_fuseab.py`` config,
its anchors checked against the config's; an N/S head with ``reg_preds_dist`` (self-distillation,
``--distill``: the published N/S checkpoints) into ``yolov6{n,s}_qarep_distill.py``, whose head keeps
that DFL branch for training and deploys ``reg_preds`` as the official head does. Each official
unit (rep block, conv-BN, transposed conv, prediction conv, ``alpha``) is mapped onto the matching
module of ours, the top-level parts by name and the units inside them in registration order,
with types and shapes checked. Every source tensor is used exactly once and every destination
tensor filled, or nothing is written.

Already-fused (deploy) sources -- ``rbr_reparam`` blocks (QARep ones keep their post-sum BN) and
``fuse_model``'s conv-BN pairs folded into one biased conv -- are written into our *training*
form with weights that compute the same function in eval mode: the fused kernel goes into the
3x3 conv (minus the identity / average-pool kernels our branches add back), the conv's BN passes
its input through (exactly: ``running_var + eps == 1``) plus the fused bias, and the other
branches are zero. Our configs, tools and
re-parameterization then work unchanged, and fusing again gives back the published kernel.

Provenance: meituan/YOLOv6 (e86a483) ``yolov6/layers/common.py`` (block branches, deploy forms,
``QARepVGGBlock*.switch_to_deploy`` keeping ``bn``), ``yolov6/models/{efficientrep,reppan,
effidehead,heads/effidehead_fuseab,heads/effidehead_distill_ns}.py`` (module names, ``anchors_init``),
``yolov6/utils/torch_utils.py`` (``fuse_model``, ``initialize_weights``: BN eps 1e-3),
``yolov6/utils/checkpoint.py`` (``ema`` preferred over ``model``); mmengine 0.10.7 ``save_checkpoint``
(``meta`` / ``state_dict`` layout).
"""
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import torch
from mmengine.config import Config
from torch import Tensor, nn

from ...utils.checkpoint import build_model, load_weights, read_checkpoint
from ...utils.config import load_config
from ...utils.errors import BadInput
from ...utils.io import atomic_output
from ..layers.conv import ConvBNAct, RepModule
from ..layers.fusion import avg_pool_kernel, identity_kernel
from ..layers.rep_blocks import QARepVGGBlock, QARepVGGBlockV2, RepVGGBlock
from .yolov6_pickle import RefusedGlobal, StandIn, attribute, children, load_yolov6_pickle, tensors

_COMMON = 'yolov6.layers.common.'
MODES = {_COMMON + 'RepVGGBlock': 'repvgg', _COMMON + 'QARepVGGBlock': 'qarepvgg',
         _COMMON + 'QARepVGGBlockV2': 'qarepvggv2'}
"""Official block class -> training mode."""
_OUR_BLOCK = {'repvgg': RepVGGBlock, 'qarepvgg': QARepVGGBlock, 'qarepvggv2': QARepVGGBlockV2}
SIZES = {16: 'N', 32: 'S', 48: 'M', 64: 'L'}
"""Stem width -> size."""
CONFIGS = {
    ('N', 'repvgg'): ('yolov6n_repvgg.py', None), ('N', 'qarepvgg'): ('yolov6n_qarep_v1.py', None),
    ('N', 'qarepvggv2'): ('yolov6n_qarep.py', None),
    ('S', 'repvgg'): ('yolov6s_repvgg.py', None), ('S', 'qarepvgg'): ('yolov6s_qarep.py', 'QARepVGGBlock'),
    ('S', 'qarepvggv2'): ('yolov6s_qarep.py', None),
    ('M', 'repvgg'): ('yolov6m_repvgg.py', None), ('M', 'qarepvgg'): ('yolov6m_qarep.py', 'QARepVGGBlock'),
    ('M', 'qarepvggv2'): ('yolov6m_qarep.py', None),
    ('L', 'conv_silu'): ('yolov6l.py', None),
}
"""(size, training mode) -> (our config, block type to set when the config has another one)."""
CONFIGS_ANCHOR_AIDED = {
    **{(size, mode): (f'yolov6{size.lower()}_qarep_fuseab.py', block) for size in 'NSM'
       for mode, block in (('repvgg', 'RepVGGBlock'), ('qarepvgg', 'QARepVGGBlock'), ('qarepvggv2', None))},
    ('L', 'conv_silu'): ('yolov6l_fuseab.py', None)}
"""The same for checkpoints of anchor-aided training (``--fuse_ab``)."""
CONFIGS_DISTILL = {(size, mode): (f'yolov6{size.lower()}_qarep_distill.py', block) for size in 'NS'
                   for mode, block in (('repvgg', 'RepVGGBlock'), ('qarepvgg', 'QARepVGGBlock'), ('qarepvggv2', None))}
"""The same for N/S checkpoints of self-distillation (``--distill``; the head's ``reg_preds_dist``)."""
_PARTS = [('backbone.stem', 'backbone.stem')] + \
    [(f'backbone.ERBlock_{i + 2}', f'backbone.stages.{i}') for i in range(4)] + \
    [(f'neck.{src}', f'neck.{dst}') for src, dst in (
        ('reduce_layer0', 'reduce_layers.0'), ('Bifusion0', 'top_down_fusions.0'), ('Rep_p4', 'top_down_layers.0'),
        ('reduce_layer1', 'reduce_layers.1'), ('Bifusion1', 'top_down_fusions.1'), ('Rep_p3', 'top_down_layers.1'),
        ('downsample2', 'downsample_layers.0'), ('Rep_n3', 'bottom_up_layers.0'),
        ('downsample1', 'downsample_layers.1'), ('Rep_n4', 'bottom_up_layers.1'))] + \
    [(f'detect.{name}', f'bbox_head.head_module.{name}')
     for name in ('stems', 'cls_convs', 'reg_convs', 'cls_preds', 'reg_preds', 'cls_preds_ab', 'reg_preds_ab')] + \
    [('detect.reg_preds_dist', 'bbox_head.head_module.reg_preds_distill')]
"""Official top-level parts -> ours; the units inside each part are matched in order."""
CONFIG_DIR = Path(__file__).resolve().parents[3] / 'configs'


@dataclass
class Variant:
    """What a YOLOv6 checkpoint holds: size, training mode, form, number of classes and whether its head
    has the anchor-based branch of anchor-aided training (``--fuse_ab``) or the DFL branch of N/S
    self-distillation (``--distill``)."""

    size: str
    mode: str
    deployed: bool
    num_classes: int
    anchor_aided: bool = False
    distilled: bool = False

    def __str__(self) -> str:
        kind = ' anchor-aided' if self.anchor_aided else ' self-distillation' if self.distilled else ''
        return f'YOLOv6-{self.size} {self.mode}{kind} ' \
               f'({"fused" if self.deployed else "training"} form, {self.num_classes} classes)'


class _Source:
    """The stand-in tree of the official model; hands out each tensor once and reports the rest."""

    def __init__(self, root: StandIn) -> None:
        self.root = root
        self.unused: 'OrderedDict[str, Tensor]' = OrderedDict()
        self._collect(root, '', set())

    def _collect(self, node: StandIn, prefix: str, ancestors: set) -> None:
        # Modules may be shared (the official activations are), but none may contain itself.
        if id(node) in ancestors or prefix.count('.') > 32:
            raise BadInput(f'not a YOLOv6 network: its modules form a cycle or nest too deep at {prefix[:-1]}')
        ancestors.add(id(node))
        for name, value in tensors(node).items():
            self.unused[prefix + name] = value
        for name, child in children(node).items():
            self._collect(child, f'{prefix}{name}.', ancestors)
        ancestors.discard(id(node))

    def node(self, path: str) -> Optional[StandIn]:
        node = self.root
        for name in path.split('.'):
            node = children(node).get(name)
            if node is None:
                return None
        return node

    def take(self, path: str) -> Tensor:
        """The tensor at ``path`` as float32 (integers kept), marked as used."""
        if path not in self.unused:
            raise BadInput(f'the YOLOv6 checkpoint has no tensor {path} where one is expected')
        value = self.unused.pop(path)
        return value.float() if value.is_floating_point() else value.clone()


def _src_units(node: StandIn, path: str) -> Iterator[Tuple[str, str, StandIn]]:
    """``(kind, path, node)`` of the official units under ``node`` in registration order."""
    if node.qualname in MODES:
        yield 'rep', path, node
        return
    if node.qualname == _COMMON + 'ConvModule':
        yield 'conv', path, node
        return
    if node.qualname in ('torch.nn.modules.conv.Conv2d', 'torch.nn.modules.conv.ConvTranspose2d'):
        yield 'plain', path, node
        return
    for name in tensors(node):
        yield 'param', f'{path}.{name}', node
    for name, child in children(node).items():
        yield from _src_units(child, f'{path}.{name}')


def _dst_units(module: nn.Module, path: str) -> Iterator[Tuple[str, str, nn.Module]]:
    """``(kind, path, module)`` of our units under ``module`` in registration order."""
    if isinstance(module, ConvBNAct):
        yield 'conv', path, module
        return
    if isinstance(module, RepModule):
        yield 'rep', path, module
        return
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        yield 'plain', path, module
        return
    for name, param in module._parameters.items():
        if param is not None:
            yield 'param', f'{path}.{name}', module
    for name, child in module._modules.items():
        if child is not None:
            yield from _dst_units(child, f'{path}.{name}')


def _bn(src: _Source, path: str, bn: nn.BatchNorm2d) -> Dict[str, Tensor]:
    """A BN's tensors; the variance shifted so that ``var + eps`` is kept under our eps."""
    src_eps = attribute(src.node(path), 'eps', 1e-5)
    if not isinstance(src_eps, (int, float)) or not 0 <= src_eps < 1:
        raise BadInput(f'the YOLOv6 checkpoint\'s {path} has no valid BatchNorm eps ({src_eps!r})')
    return {'weight': src.take(f'{path}.weight'), 'bias': src.take(f'{path}.bias'),
            'running_mean': src.take(f'{path}.running_mean'),
            'running_var': src.take(f'{path}.running_var') + (src_eps - bn.eps),
            'num_batches_tracked': src.take(f'{path}.num_batches_tracked')}


def _pass_bn(bias: Tensor, bn: nn.BatchNorm2d, scale: float = 1.0) -> Dict[str, Tensor]:
    """BN tensors computing ``scale * x + bias`` in eval mode (``scale`` 1 or 0).

    ``running_var = 1 - eps`` in float32 makes ``running_var + eps`` exactly 1, so the BN (and its
    fusion) multiplies by exactly ``scale``.
    """
    n = bias.numel()
    var = torch.full((n,), 1.0 - bn.eps)
    if not bool(((var + bn.eps) == 1).all()):  # an eps for which float32 does not round back to 1
        var, scale = torch.ones(n), scale * (1.0 + bn.eps) ** 0.5
    return {'weight': torch.full((n,), float(scale)), 'bias': bias.float().clone(),
            'running_mean': torch.zeros(n), 'running_var': var,
            'num_batches_tracked': torch.tensor(0, dtype=torch.long)}


def _prefixed(prefix: str, values: Dict[str, Tensor]) -> Dict[str, Tensor]:
    return {f'{prefix}.{k}': v for k, v in values.items()}


def _conv_bn(src: _Source, path: str, dst: ConvBNAct) -> Dict[str, Tensor]:
    """An official ``ConvModule`` (conv-BN, or folded by ``fuse_model``) -> our ``ConvBNAct``."""
    node = src.node(path)
    weight = src.take(f'{path}.conv.weight')
    has_bias = f'{path}.conv.bias' in src.unused
    bias = src.take(f'{path}.conv.bias') if has_bias else None
    if 'bn' not in children(node):  # fused: conv with bias
        if bias is None:
            bias = torch.zeros(weight.shape[0])
        return {'conv.weight': weight, **_prefixed('bn', _pass_bn(bias, dst.bn))}
    bn = _bn(src, f'{path}.bn', dst.bn)
    if bias is not None:  # a biased conv before a BN: the bias moves into the mean
        bn['running_mean'] = bn['running_mean'] - bias
    return {'conv.weight': weight, **_prefixed('bn', bn)}


def _rep_block(src: _Source, path: str, mode: str, dst: RepModule) -> Dict[str, Tensor]:
    """An official rep block (training or deploy form) -> ours of the same type (training form)."""
    node = src.node(path)
    if type(dst) is not _OUR_BLOCK[mode]:
        raise BadInput(f'the YOLOv6 checkpoint has a {mode} block at {path} where the config has a '
                       f'{type(dst).__name__}')
    parts = children(node)
    if 'rbr_reparam' in parts:
        kernel, bias = src.take(f'{path}.rbr_reparam.weight'), src.take(f'{path}.rbr_reparam.bias')
        if mode == 'repvgg':
            out = {'conv_kxk.conv.weight': kernel, **_prefixed('conv_kxk.bn', _pass_bn(bias, dst.conv_kxk.bn)),
                   'conv_1x1.conv.weight': torch.zeros_like(dst.conv_1x1.conv.weight),
                   **_prefixed('conv_1x1.bn', _pass_bn(torch.zeros_like(bias), dst.conv_1x1.bn, 0.0))}
            if dst.identity is not None:
                out.update(_prefixed('identity', _pass_bn(torch.zeros_like(bias), dst.identity, 0.0)))
            return out
        # QARep deploy: act(bn(rbr_reparam(x))); our branches add identity (and average pool) back
        if dst.identity is not None:
            kernel = kernel - identity_kernel(dst.in_channels, dst.groups, dst.kernel_size)
        if getattr(dst, 'avg_pool', None) is not None:
            kernel = kernel - avg_pool_kernel(dst.in_channels, dst.groups, dst.kernel_size, dst.kernel_size)
        return {'conv_kxk.conv.weight': kernel, **_prefixed('conv_kxk.bn', _pass_bn(bias, dst.conv_kxk.bn)),
                'conv_1x1.weight': torch.zeros_like(dst.conv_1x1.weight),
                **_prefixed('bn', _bn(src, f'{path}.bn', dst.bn))}
    out = _prefixed('conv_kxk', _conv_bn(src, f'{path}.rbr_dense', dst.conv_kxk))
    if mode == 'repvgg':
        out.update(_prefixed('conv_1x1', _conv_bn(src, f'{path}.rbr_1x1', dst.conv_1x1)))
        if ('rbr_identity' in parts) != (dst.identity is not None):
            raise BadInput(f'the YOLOv6 checkpoint\'s block {path} and the config\'s differ in their identity branch')
        if dst.identity is not None:
            out.update(_prefixed('identity', _bn(src, f'{path}.rbr_identity', dst.identity)))
        return out
    out['conv_1x1.weight'] = src.take(f'{path}.rbr_1x1.weight')
    out.update(_prefixed('bn', _bn(src, f'{path}.bn', dst.bn)))
    return out


def _unit(src: _Source, src_unit: Tuple[str, str, StandIn], dst_unit: Tuple[str, str, nn.Module]
          ) -> Dict[str, Tensor]:
    """Our tensors (relative to the destination unit) of one official unit."""
    (kind, path, node), (dst_kind, dst_path, module) = src_unit, dst_unit
    mismatch = BadInput(f'the YOLOv6 checkpoint does not match the config\'s network: {path} '
                        f'({node.qualname.rsplit(".", 1)[-1]}) meets {dst_path} ({type(module).__name__})')
    if kind == 'rep' and dst_kind == 'rep':
        return _rep_block(src, path, MODES[node.qualname], module)
    if kind == 'conv' and dst_kind == 'conv':
        return _conv_bn(src, path, module)
    if kind == 'plain' and dst_kind == 'plain' and node.qualname.endswith(type(module).__name__):
        out = {'weight': src.take(f'{path}.weight')}
        if module.bias is not None:
            out['bias'] = src.take(f'{path}.bias')
        return out
    if kind == 'param' and dst_kind == 'param' and path.rsplit('.', 1)[1] == dst_path.rsplit('.', 1)[1]:
        return {'': src.take(path)}
    raise mismatch


def _check_projection(src: _Source) -> None:
    """The DFL projection (``detect.proj``, ``detect.proj_conv``) is a constant here: check and use it."""
    for path in ('detect.proj', 'detect.proj_conv.weight'):
        if path in src.unused:
            value = src.take(path).flatten().float()
            expected = torch.linspace(0, value.numel() - 1, value.numel())
            if not torch.allclose(value, expected):
                raise BadInput(f'the YOLOv6 checkpoint\'s {path} is not the DFL projection 0..{value.numel() - 1}')


def read_yolov6(path: str) -> StandIn:
    """The official model in the checkpoint at ``path`` (``ema`` if present, else ``model``) as stand-ins.

    Raises:
        BadInput: Not a loadable file, a pickle with anything beyond the expected classes, or no
            YOLOv6 ``Model`` inside.
    """
    if not Path(path).is_file():
        raise BadInput(f'no such file: {path}')
    try:
        ckpt = load_yolov6_pickle(path)
    except RefusedGlobal as err:
        raise BadInput(f'{path} is not a YOLOv6 checkpoint: its pickle references something beyond the '
                       f'expected classes ({err}); nothing in it was run') from None
    except Exception as err:  # noqa: BLE001  (an untrusted file: whatever fails, it does not load)
        raise BadInput(f'{path} cannot be read as a PyTorch checkpoint ({type(err).__name__})') from None
    model_name = 'yolov6.models.yolo.Model'
    if not isinstance(ckpt, dict):
        raise BadInput(f'{path} is not a YOLOv6 checkpoint: it holds a {type(ckpt).__name__}, not a dict')
    for key in ('ema', 'model'):
        value = ckpt.get(key)
        if isinstance(value, StandIn) and value.qualname == model_name:
            return value
    raise BadInput(f'{path} is not a YOLOv6 checkpoint: no {model_name} under "model" or "ema"')


def detect_variant(model: StandIn) -> Variant:
    """Size, training mode, form and classes of an official model (stand-ins).

    Raises:
        BadInput: A variant that has no config here (e.g. S with ``conv_silu``, a P6 model).
    """
    src = _Source(model)
    units = [u for part, _ in _PARTS for u in (_src_units(src.node(part), part) if src.node(part) else ())]
    if not units or src.node('backbone.stem') is None or src.node('detect.cls_preds') is None:
        raise BadInput('not a YOLOv6 v3.0 network: the backbone stem or the detection head is missing')
    modes = {MODES[n.qualname] for kind, _, n in units if kind == 'rep'}
    stem = src.node('backbone.stem')
    if not modes:
        conv = children(stem).get('block')
        modes = {'conv_silu'} if attribute(conv, 'activation_type') == 'silu' else {'conv_relu'}
    stem_weights = [v for k, v in src.unused.items() if k.startswith('backbone.stem.') and v.dim() == 4]
    size = SIZES.get(int(stem_weights[0].shape[0])) if stem_weights else None
    mode = modes.pop() if len(modes) == 1 else 'mixed blocks'
    if size is None or (size, mode) not in CONFIGS:
        width = int(stem_weights[0].shape[0]) if stem_weights else '?'
        raise BadInput(f'unknown YOLOv6 variant (stem width {width}, {mode}): this converter knows '
                       f'{", ".join(f"{s}/{m}" for s, m in CONFIGS)}')
    deployed = any(k.endswith('rbr_reparam.weight') for k in src.unused) or \
        any(kind == 'conv' and 'bn' not in children(n) for kind, _, n in units)
    cls_weight = src.unused.get('detect.cls_preds.0.weight')
    if cls_weight is None:
        raise BadInput('not a YOLOv6 v3.0 network: no detect.cls_preds.0.weight')
    distilled = src.node('detect.reg_preds_dist') is not None
    if distilled and size not in 'NS':
        raise BadInput(f'unknown YOLOv6 variant: a YOLOv6-{size} head with the N/S distillation branch '
                       '(reg_preds_dist)')
    return Variant(size, mode, deployed, int(cls_weight.shape[0]), src.node('detect.cls_preds_ab') is not None,
                   distilled)


def variant_config(variant: Variant, config: Optional[str] = None) -> Tuple[Config, str]:
    """Our config for ``variant`` (or the one given) and how the metadata names it.

    Raises:
        BadInput: The config's number of classes differs from the checkpoint's.
    """
    if config is None:
        table = CONFIGS_ANCHOR_AIDED if variant.anchor_aided else CONFIGS_DISTILL if variant.distilled else CONFIGS
        name, block = table[(variant.size, variant.mode)]
        path = CONFIG_DIR / name
        if not path.is_file():
            raise BadInput(f'config {path} not found: pass the config with --config')
        cfg = load_config(str(path))
        if block is not None:
            cfg.merge_from_dict({'model.backbone.block_cfg': dict(type=block),
                                 'model.neck.block_cfg': dict(type=block)})
        config = f'configs/{name}' + (f' with block_cfg=dict(type={block!r})' if block else '')
    else:
        cfg = load_config(config)
    head = cfg.get('model', {}).get('bbox_head', {}).get('head_module', {})
    if head.get('num_classes') != variant.num_classes:
        raise BadInput(f'class-count mismatch: the checkpoint has {variant.num_classes} classes, the config '
                       f'{config} {head.get("num_classes")} (pass a config with num_classes={variant.num_classes} '
                       'via --config)')
    if variant.anchor_aided and not head.get('num_anchors'):
        raise BadInput(f'the checkpoint has the anchor-aided branch (--fuse_ab), the config {config} has none: '
                       'pass a config with it (configs/*_fuseab.py)')
    if head.get('num_anchors') and not variant.anchor_aided:
        raise BadInput(f'the checkpoint has no anchor-aided branch (--fuse_ab), the config {config} has one: '
                       'pass a config without it')
    if bool(head.get('distill_reg_max')) != variant.distilled:
        theirs, ours = ('has a', 'none') if variant.distilled else ('has no', 'one')
        raise BadInput(f'the checkpoint {theirs} distillation branch (reg_preds_dist), the config {config} has {ours}: '
                       'pass a config ' + ('with it (configs/yolov6{n,s}_qarep_distill.py)' if variant.distilled
                                           else 'without it'))
    return cfg, config


def _check_anchors(model: StandIn, target: nn.Module) -> None:
    """The anchor-aided head's ``anchors_init`` (``(L, A, 2)`` in strides) against the config's anchors."""
    theirs = attribute(children(model).get('detect'), 'anchors_init')
    head = getattr(target, 'bbox_head', None)
    if not isinstance(theirs, Tensor) or getattr(head, 'anchors', None) is None:
        raise BadInput('the anchor-aided YOLOv6 checkpoint has no detect.anchors_init or the config no anchors')
    strides = torch.tensor([s[0] for s in head.prior_generator.strides], dtype=torch.float32)
    ours = head.anchors / strides[:, None, None]
    if theirs.shape != ours.shape or not torch.allclose(theirs.float(), ours):
        raise BadInput(f'the checkpoint\'s anchors (detect.anchors_init x strides: '
                       f'{(theirs.float() * strides[:, None, None]).flatten(1).tolist()}) differ from the '
                       f'config\'s ({head.anchors.flatten(1).tolist()})')


def convert_model(model: StandIn, target: nn.Module) -> 'OrderedDict[str, Tensor]':
    """Our ``state_dict`` for ``target`` from the official ``model`` (stand-ins), float32.

    Raises:
        BadInput: The networks differ, or tensors are left over on either side (listed).
    """
    src = _Source(model)
    own = target.state_dict()
    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    modules = dict(target.named_modules())
    for src_part, dst_part in _PARTS:
        node, module = src.node(src_part), modules.get(dst_part)
        if node is None or module is None:
            continue  # reported below as leftovers
        src_units, dst_units = list(_src_units(node, src_part)), list(_dst_units(module, dst_part))
        if len(src_units) != len(dst_units):
            raise BadInput(f'the YOLOv6 checkpoint does not match the config\'s network: {src_part} has '
                           f'{len(src_units)} layers, {dst_part} {len(dst_units)}')
        for src_unit, dst_unit in zip(src_units, dst_units):
            try:
                values = _unit(src, src_unit, dst_unit)
            except RuntimeError as err:  # tensors that cannot be combined: another network
                raise BadInput(f'the YOLOv6 checkpoint does not match the config\'s network at {src_unit[1]} '
                               f'({str(err).splitlines()[0] if str(err) else type(err).__name__})') from None
            for key, value in values.items():
                name = f'{dst_unit[1]}.{key}' if key else dst_unit[1]
                if name not in own or name in out:
                    raise BadInput(f'the YOLOv6 checkpoint does not match the config\'s network at {name}')
                if value.shape != own[name].shape:
                    raise BadInput(f'the YOLOv6 checkpoint does not match the config\'s network: {src_unit[1]} '
                                   f'gives {name} the shape {tuple(value.shape)}, the config '
                                   f'{tuple(own[name].shape)}')
                out[name] = value.to(own[name].dtype)
    _check_projection(src)
    left, unfilled = list(src.unused), [k for k in own if k not in out]
    if left or unfilled:
        more = lambda keys: ', '.join(keys[:5]) + (f' and {len(keys) - 5} more' if len(keys) > 5 else '')  # noqa: E731
        parts = ([f'{len(left)} checkpoint tensors unused ({more(left)})'] if left else []) + \
                ([f'{len(unfilled)} model tensors unfilled ({more(unfilled)})'] if unfilled else [])
        raise BadInput('the YOLOv6 checkpoint does not map one to one onto the config\'s network: ' + '; '.join(parts))
    return OrderedDict((k, out[k]) for k in own)


def convert_yolov6_checkpoint(src: str, dst: str, config: Optional[str] = None) -> Variant:
    """Convert the official YOLOv6 checkpoint ``src`` into the mmengine checkpoint ``dst``.

    ``dst`` holds ``state_dict`` (float32, our training form) and ``meta`` (``cfg``: the config
    text, read back as data by the tools; ``config``: its name; ``yolov6_variant``; ``converted_from``).
    It is written atomically, checked by loading it through the tools' checkpoint path, and never
    overwrites a file.

    Args:
        src: The official checkpoint (``.pt``).
        dst: The checkpoint to write (``.pth``); must not exist.
        config: Our config to convert into; default: the zoo config of the recognised variant.

    Returns:
        The recognised variant.

    Raises:
        BadInput: Any bad input (see :func:`read_yolov6`, :func:`detect_variant`,
            :func:`variant_config`, :func:`convert_model`); no file is written.
    """
    if Path(dst).exists():
        raise BadInput(f'{dst} exists: nothing was overwritten')
    model = read_yolov6(src)
    variant = detect_variant(model)
    cfg, config_name = variant_config(variant, config)
    meta = dict(cfg=cfg.pretty_text, config=config_name, yolov6_variant=str(variant),
                converted_from=Path(src).name)  # before building: mmdet's detectors edit the model config
    target = build_model(cfg)
    if variant.anchor_aided:
        _check_anchors(model, target)
    state_dict = convert_model(model, target)
    with atomic_output(dst, overwrite=False) as tmp:
        torch.save(dict(meta=meta, state_dict=state_dict), tmp)
        checkpoint = read_checkpoint(str(tmp))
        checkpoint['path'] = str(dst)
        load_weights(target, checkpoint, strict=True)
    return variant

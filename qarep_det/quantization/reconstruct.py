"""RepAPQ-style reconstruction PTQ: QPRep affine layers, rounding and activation scales tuned group by group.

After :func:`~.prepare.calibrate`, :func:`reconstruct` tunes the quantizers of a prepared model so
that each *group* of consecutive quantized layers reproduces the FP32 output of the same group,
in execution order, each group fed by the already-quantized groups before it. What is tuned:

* **QPRep** (quantization-protecting re-parameterization): every fused conv gets a per-output-channel
  affine ``y = eta * conv(x) + epsilon`` before its ReLU (identity at the start: the model is
  unchanged, :class:`QPRepConv`). After tuning it folds back, ``W' = eta W``, ``b' = eta b +
  epsilon``; with per-channel symmetric weights the folded integers are the same and the scale is
  ``|eta| s``, so the deployed network is still one conv per block.
* **Weight rounding**, AdaRound-style: each weight rounds up or down by a learned soft variable
  (rectified sigmoid, regularizer annealed from beta 20 to 2 after a 20 % warm-up), made hard at the
  end; the per-channel scales stay those of the weight observer (min-max).
* **Activation scales**, LSQ-style: each activation quantizer's scale is learned (through a
  straight-through rounding, steps relative to the calibrated scale); zero points stay as calibrated.
* The loss is the **mean absolute error** of the group's outputs (``loss='mse'``: squared error),
  divided by the mean absolute (squared) value of the FP32 outputs.

Groups (``groups``): ``'stage'`` takes the layers whose names share the prefix up to the first
number (``backbone.stages.2``, ``neck.top_down_layers.0``; a name without a number is its own
stage, ``backbone.stem``), in runs of consecutive layers; an integer N takes N consecutive layers.
The graph is cut (``torch.fx.passes.split_module``) where a group starts, so a group's inputs are
whatever tensors of earlier groups it reads (skip connections included), and its outputs are every
tensor a later group or the model's output reads: the error is measured at the group's output,
not layer by layer. The FP32 references and the quantized inputs of all calibration images are
kept in memory for the current group only.

Provenance and choices: Zhang et al., "Towards Accurate Post-training Quantization for
Reparameterized Models" (RepAPQ), arXiv:2402.16121, 2024: QPRep's affine after the fused conv, MAE
instead of MSE, calibration against the output of several blocks (across-block calibration). Only
the abstract could be read here, so what the paper leaves to its Section III is our choice, named
here: the affine sits before the activation (so it folds exactly) and starts at identity; the
supervision is the group output only (no separate stage-output term); AdaRound (Nagel et al., ICML
2020, Sec. 4: rectified sigmoid zeta 1.1, gamma -0.1, the annealed regularizer) and block-wise
reconstruction with quantized inputs (Li et al., "BRECQ", ICLR 2021, Sec. 3); the learning rates,
iterations and batch size are set for short CPU runs (``ReconstructionConfig``).
"""
import copy
import operator
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Sequence, Tuple, Union

import torch
import torch.ao.nn.intrinsic as nni
import torch.nn.functional as F
from torch import Tensor, nn
from torch.ao.quantization import QConfig
from torch.ao.quantization.observer import ObserverBase
from torch.fx import GraphModule
from torch.fx.passes.split_module import split_module
from tqdm import tqdm

from ._backend import float_conv, is_activation_observer
from .observers import FixedActivationObserver, FixedWeightObserver
from .prepare import PreparedModel
from .simulate import fake_quantized_weight, observer_qparams, weight_observer

METHODS = ('observer', 'repapq')
"""PTQ methods of ``tools/ptq.py --method``: ``observer`` (ranges from the activation observer,
weights rounded to nearest) and ``repapq`` (that, then :func:`reconstruct`)."""
LOSSES = ('mae', 'mse')
"""Reconstruction losses: mean absolute error (RepAPQ's) and mean squared error."""
_POWER = dict(mae=1, mse=2)
ZETA, GAMMA = 1.1, -0.1
"""AdaRound's stretch of the sigmoid to (GAMMA, ZETA) before clipping to [0, 1]."""


@dataclass(frozen=True)
class ReconstructionConfig:
    """How :func:`reconstruct` tunes a prepared model.

    Args:
        loss: One of :data:`LOSSES`.
        groups: ``'stage'`` or a number of consecutive layers per group (see the module docstring).
        iters: Optimizer steps per group.
        batch_size: Images per step (drawn from the calibration images, same-size images only).
        seed: Seed of the image sampling (the same seed gives the same result).
        qprep: Tune the per-channel affine of each conv (QPRep); else only rounding and scales.
        round_lr: Adam learning rate of the rounding variables.
        affine_lr: Adam learning rate of ``eta`` and ``epsilon``.
        scale_lr: Adam learning rate of the activation scales, relative to each initial scale.
        round_weight: Weight of the rounding regularizer.
        warmup: Fraction of ``iters`` without the regularizer.
        eval_images: Calibration images the before/after group errors are measured on.
    """

    loss: str = 'mae'
    groups: Union[str, int] = 'stage'
    iters: int = 200
    batch_size: int = 4
    seed: int = 0
    qprep: bool = True
    round_lr: float = 1e-2
    affine_lr: float = 1e-3
    scale_lr: float = 1e-3
    round_weight: float = 0.01
    warmup: float = 0.2
    eval_images: int = 16

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown reconstruction loss '{self.loss}': choose one of {', '.join(LOSSES)}")
        if self.groups != 'stage' and not (isinstance(self.groups, int) and self.groups > 0):
            raise ValueError(f"groups must be 'stage' or a positive whole number, got {self.groups!r}")
        for name in ('iters', 'batch_size', 'eval_images'):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == 'iters' else 1):
                raise ValueError(f'{name} must be a whole number >= {0 if name == "iters" else 1}, got {value!r}')

    def to_dict(self) -> dict:
        return asdict(self)


def stage_of(layer: str) -> str:
    """The stage of a layer name: the prefix up to its first number (``backbone.stages.2`` of
    ``backbone.stages.2.1.0.reparam_conv``), else the name without its last part."""
    parts = layer.split('.')
    for i, part in enumerate(parts):
        if part.isdigit():
            return '.'.join(parts[:i + 1])
    return '.'.join(parts[:-1]) or layer


def layer_groups(layers: Sequence[str], groups: Union[str, int] = 'stage') -> List[List[str]]:
    """Cut ``layers`` (in execution order) into groups: runs of one stage, or ``groups`` layers each."""
    if groups == 'stage':
        cut: List[List[str]] = []
        for layer in layers:
            if cut and stage_of(cut[-1][-1]) == stage_of(layer):
                cut[-1].append(layer)
            else:
                cut.append([layer])
        return cut
    return [list(layers[i:i + groups]) for i in range(0, len(layers), groups)]


def _round_ste(x: Tensor) -> Tensor:
    return (x.round() - x).detach() + x


class LearnableActivationQuantizer(nn.Module):
    """Per-tensor quantize-dequantize with a learnable scale and a fixed zero point.

    The forward pass computes what ``torch.fake_quantize_per_tensor_affine`` does (``round(x *
    (1 / s)) + z``, clamped), with a straight-through rounding, so the scale gets the LSQ gradient.

    Args:
        qparams: Initial ``(scale, zero_point, quant_min, quant_max)`` (a calibrated observer's).
        learnable: Whether the scale is tuned (fixed-range sigmoid outputs are not).
        seen: ``(min, max)`` the observer saw (kept for the diagnostics).
    """

    def __init__(self, qparams: tuple, learnable: bool = True, seen: Tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__()
        scale, self.zero_point, self.quant_min, self.quant_max = qparams
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float32), requires_grad=learnable)
        self.initial_scale = scale
        self.seen = seen
        self.quantize = True

    def forward(self, x: Tensor) -> Tensor:
        if not self.quantize:
            return x
        q = torch.clamp(_round_ste(x * (1 / self.scale)) + self.zero_point, self.quant_min, self.quant_max)
        return (q - self.zero_point) * self.scale

    def observer(self) -> FixedActivationObserver:
        """The tuned parameters as an observer of the prepared graph."""
        return FixedActivationObserver(float(self.scale.detach()), self.zero_point, self.quant_min, self.quant_max,
                                       self.seen)


class QPRepConv(nn.Module):
    """A fused conv (+ReLU) of a prepared graph with QPRep's per-channel affine and AdaRound weights.

    ``quantize`` false: ``act(eta * conv(x, W, b) + epsilon)``, equal to the plain layer while
    ``eta`` is 1 and ``epsilon`` 0; true: the same with the weights on their integer grid,
    ``s * clamp(floor(W / s) + h, qmin, qmax)``, ``h`` soft (training) or hard (``hard``, and at
    the start equal to round-to-nearest).

    Args:
        layer: ``nn.Conv2d`` or a fused ``ConvReLU2d`` with a per-channel symmetric weight qconfig.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        conv = float_conv(layer)
        self.relu = isinstance(layer, nni.ConvReLU2d)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        weight = conv.weight.detach().clone()
        self.register_buffer('weight', weight)
        self.register_buffer('bias', conv.bias.detach().clone() if conv.bias is not None
                             else weight.new_zeros(weight.shape[0]))
        observer = weight_observer(layer)
        scale, _ = observer.calculate_qparams()
        self.quant_min, self.quant_max = observer.quant_min, observer.quant_max
        self.register_buffer('scale', scale.reshape(-1, 1, 1, 1).float())
        scaled = weight * (1 / self.scale)  # as torch.fake_quantize_per_channel_affine
        self.register_buffer('floor', scaled.floor())
        rest = (scaled - self.floor).clamp(1e-4, 1 - 1e-4)
        rounding = -torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1)  # soft h == rest
        up = scaled.round() > self.floor  # hard h: round to nearest, ties to even as torch's fake quantization
        self.rounding = nn.Parameter(torch.where((rounding >= 0) == up, rounding, torch.where(up, 1e-6, -1e-6)))
        self.eta = nn.Parameter(weight.new_ones(weight.shape[0]))
        self.epsilon = nn.Parameter(weight.new_zeros(weight.shape[0]))
        self.quantize, self.hard = True, False

    def soft_rounding(self) -> Tensor:
        return torch.clamp(torch.sigmoid(self.rounding) * (ZETA - GAMMA) + GAMMA, 0, 1)

    def integer_weight(self) -> Tensor:
        up = (self.rounding >= 0).float() if self.hard else self.soft_rounding()
        return torch.clamp(self.floor + up, self.quant_min, self.quant_max)

    def rounding_regularizer(self, beta: float) -> Tensor:
        """Mean of ``1 - |2h - 1|^beta``: zero when every soft rounding is 0 or 1."""
        return (1 - (2 * self.soft_rounding() - 1).abs().pow(beta)).mean()

    def forward(self, x: Tensor) -> Tensor:
        weight = self.integer_weight() * self.scale if self.quantize else self.weight
        # the affine folded as it deploys: exactly the plain layer's arithmetic at eta 1, epsilon 0
        weight, bias = weight * self.eta.view(-1, 1, 1, 1), self.bias * self.eta + self.epsilon
        y = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        return F.relu(y) if self.relu else y

    @torch.no_grad()
    def folded(self) -> Tuple[Tensor, Tensor, Tensor]:
        """``(weight, bias, scale)`` of the plain conv this layer deploys as: the hard-rounded integers
        times ``eta * s`` (exactly on the grid of ``scale = |eta| s``), and ``eta * b + epsilon``."""
        hard, self.hard = self.hard, True
        integers = self.integer_weight()
        self.hard = hard
        eta = self.eta.view(-1, 1, 1, 1)
        scale = self.scale * eta.abs()
        return integers * eta.sign() * scale, self.eta * self.bias + self.epsilon, scale.reshape(-1)


class FixedQuantLayer(nn.Module):
    """A quantized layer :func:`reconstruct` does not tune (e.g. a transposed conv): the layer
    with its weights fake-quantized by its qconfig, or the float layer when ``quantize`` is false."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.float_layer = layer
        self.quant_layer = copy.deepcopy(layer)
        with torch.no_grad():
            float_conv(self.quant_layer).weight.copy_(fake_quantized_weight(layer))
        self.quantize = True

    def forward(self, x: Tensor) -> Tensor:
        return (self.quant_layer if self.quantize else self.float_layer)(x)


def _set_quantize(module: nn.Module, enabled: bool) -> None:
    for m in module.modules():
        if hasattr(m, 'quantize'):
            m.quantize = enabled


def reconstruction_graph(prepared: PreparedModel, qprep: bool = True) -> Tuple[GraphModule, Dict[str, nn.Module]]:
    """A copy of the calibrated graph with tunable quantizers: :class:`QPRepConv` for each quantized
    conv (:class:`FixedQuantLayer` for other layers), :class:`LearnableActivationQuantizer` for each
    observer. Before tuning it computes what ``simulate_model(prepared)`` does (with
    ``QPRepConv.hard``), and, with ``quantize`` false on every module, the fused FP32 path.

    Returns:
        ``(graph, {name in the prepared graph: tunable module})``.
    """
    graph = copy.deepcopy(prepared.observed)
    replaced: Dict[int, nn.Module] = {}
    names: Dict[str, nn.Module] = {}
    for node in graph.graph.nodes:
        if node.op != 'call_module' or not isinstance(graph.get_submodule(node.target), ObserverBase):
            continue
        observer = graph.get_submodule(node.target)
        if id(observer) not in replaced:
            seen = (observer.min_val.item(), observer.max_val.item()) if is_activation_observer(observer) else (0, 0)
            replaced[id(observer)] = LearnableActivationQuantizer(observer_qparams(observer),
                                                                  is_activation_observer(observer), seen)
        names[node.target] = replaced[id(observer)]
        graph.set_submodule(node.target, names[node.target])
    for name in prepared.quantized_layers:
        layer = graph.get_submodule(name)
        tunable = type(layer) in (nn.Conv2d, nni.ConvReLU2d)
        names[name] = QPRepConv(layer) if tunable else FixedQuantLayer(layer)
        if tunable and not qprep:
            names[name].eta.requires_grad_(False)
            names[name].epsilon.requires_grad_(False)
        graph.set_submodule(name, names[name])
    graph.recompile()
    return graph, names


def group_loss(outputs: Sequence[Tensor], targets: Sequence[Tensor], loss: str) -> Tensor:
    """Mean absolute (``mae``) or squared (``mse``) error over every element of the outputs."""
    power = _POWER[loss]
    total = sum((o - t).abs().pow(power).sum() for o, t in zip(outputs, targets))
    return total / sum(t.numel() for t in targets)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _shape_buckets(inputs: List[tuple], targets: List[tuple]) -> List[List[Tuple[int, int]]]:
    """``(batch, row)`` of every cached image, grouped by the shapes of its inputs and targets (images of
    one step must have one size; the cache is not copied)."""
    buckets: Dict[tuple, List[Tuple[int, int]]] = {}
    for i, (x, t) in enumerate(zip(inputs, targets)):
        key = tuple(tuple(v.shape[1:]) for v in x + t)
        buckets.setdefault(key, []).extend((i, row) for row in range(x[0].shape[0]))
    return list(buckets.values())


def _gather(cache: List[tuple], picks: List[Tuple[int, int]]) -> List[Tensor]:
    """The rows ``picks`` of a cache of per-batch tuples, stacked per tuple element."""
    return [torch.cat([cache[i][k][row:row + 1] for i, row in picks]) for k in range(len(cache[picks[0][0]]))]


def _train_group(submodule: nn.Module, tunables: List[nn.Module], inputs: List[tuple], targets: List[tuple],
                 config: ReconstructionConfig, generator: torch.Generator, progress: bool, desc: str) -> None:
    """``config.iters`` Adam steps of the group's loss (plus the rounding regularizer)."""
    convs = [m for m in tunables if isinstance(m, QPRepConv)]
    scales = [m for m in tunables if isinstance(m, LearnableActivationQuantizer) and m.scale.requires_grad]
    affine = [p for m in convs for p in (m.eta, m.epsilon) if p.requires_grad]
    params = [dict(params=[m.rounding for m in convs], lr=config.round_lr), dict(params=affine, lr=config.affine_lr)]
    params += [dict(params=[m.scale], lr=config.scale_lr * m.initial_scale) for m in scales]  # relative steps
    params = [p for p in params if p['params']]
    if not params or not config.iters:
        return
    optimizer = torch.optim.Adam(params)
    buckets = _shape_buckets(inputs, targets)
    sizes = torch.tensor([float(len(b)) for b in buckets])
    power = _POWER[config.loss]
    norm = (sum(v.abs().pow(power).sum() for t in targets for v in t) /
            sum(v.numel() for t in targets for v in t)).clamp_min(1e-12)  # the loss relative to the outputs' size
    warmup = int(config.warmup * config.iters)
    for it in tqdm(range(config.iters), desc=desc, unit='it', leave=False, disable=not progress):
        bucket = buckets[int(torch.multinomial(sizes, 1, generator=generator))]
        picks = [bucket[j] for j in torch.randperm(len(bucket), generator=generator)[:config.batch_size].tolist()]
        outputs = _as_tuple(submodule(*_gather(inputs, picks)))
        loss = group_loss(outputs, _gather(targets, picks), config.loss) / norm
        if convs and it >= warmup:
            beta = 20 - (20 - 2) * (it - warmup) / max(config.iters - warmup, 1)
            loss = loss + config.round_weight * sum(m.rounding_regularizer(beta) for m in convs) / len(convs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def _run_all(submodule: nn.Module, inputs: List[list]) -> list:
    return [submodule(*x) for x in inputs]


def _set_hard(modules: Iterable[nn.Module], hard: bool) -> None:
    for m in modules:
        if isinstance(m, QPRepConv):
            m.hard = hard


def _reconstruct_group(submodule: nn.Module, tunables: Dict[str, nn.Module], quant_in: List[list],
                       float_in: List[list], eval_batches: int, config: ReconstructionConfig,
                       generator: torch.Generator, progress: bool, desc: str) -> Tuple[list, list, dict]:
    """Tune one group; returns its quantized and FP32 outputs per batch and its errors."""
    start = time.perf_counter()
    inside = {id(m) for m in submodule.modules()}
    members = list({id(m): m for m in tunables.values() if id(m) in inside}.values())  # shared quantizers once
    _set_quantize(submodule, False)
    float_out = _run_all(submodule, float_in)
    targets = [_as_tuple(t) for t in float_out]
    _set_quantize(submodule, True)
    _set_hard(members, True)
    before = _eval_error(_run_all(submodule, quant_in[:eval_batches]), targets, config.loss)
    _set_hard(members, False)
    _train_group(submodule, members, [tuple(x) for x in quant_in], targets, config, generator, progress, desc)
    _set_hard(members, True)
    quant_out = _run_all(submodule, quant_in)
    after = _eval_error(quant_out[:eval_batches], targets, config.loss)
    return quant_out, float_out, dict(error_before=before, error_after=after,
                                      seconds=round(time.perf_counter() - start, 2))


def _eval_error(outputs: list, targets: List[tuple], loss: str) -> float:
    """The loss over the batches of ``outputs`` (the first ones of ``targets``)."""
    pairs = [(o, t) for out, target in zip(outputs, targets) for o, t in zip(_as_tuple(out), target)]
    return float(group_loss([o for o, _ in pairs], [t for _, t in pairs], loss))


def _write_back(prepared: PreparedModel, tunables: Dict[str, nn.Module]) -> None:
    """Put the tuned parameters into the prepared graph: folded weights and biases with fixed weight
    scales, fixed activation observers (one per shared quantizer)."""
    graph = prepared.observed
    observers: Dict[int, FixedActivationObserver] = {}
    for name, module in tunables.items():
        if isinstance(module, LearnableActivationQuantizer):
            if module.scale.requires_grad:  # fixed-range quantizers keep their observer
                graph.set_submodule(name, observers.setdefault(id(module), module.observer()))
        elif isinstance(module, QPRepConv):
            layer = graph.get_submodule(name)
            conv = float_conv(layer)
            weight, bias, scale = module.folded()
            conv.weight = nn.Parameter(weight)
            conv.bias = nn.Parameter(bias)
            layer.qconfig = QConfig(activation=layer.qconfig.activation, weight=FixedWeightObserver.with_args(
                scale=scale, quant_min=module.quant_min, quant_max=module.quant_max))


def reconstruct(prepared: PreparedModel, batches: Iterable[Union[Tensor, dict]],
                config: ReconstructionConfig = ReconstructionConfig(), progress: bool = True) -> dict:
    """Tune the quantizers of a calibrated ``prepared`` model group by group (in place).

    Afterwards :func:`~.convert.convert_model` and :func:`~.simulate.simulate_model` deploy the tuned
    model as they deploy a calibrated one (folded weights with fixed scales, fixed activation
    parameters); ``prepared.float_path`` stays the FP32 reference.

    Args:
        prepared: A calibrated :class:`~.prepare.PreparedModel`.
        batches: Calibration images (tensors or dataloader batches), all kept in memory.
        config: The recipe.
        progress: Progress bars over groups and iterations.

    Returns:
        JSON-able: ``config``, ``images`` and per group ``layers``, ``error_before`` / ``error_after``
        (the loss on the first ``config.eval_images`` images, before tuning = round-to-nearest) and
        ``seconds``.
    """
    with torch.no_grad():
        images = [prepared.images(b) for b in batches]
    graph, tunables = reconstruction_graph(prepared, config.qprep)
    groups = layer_groups(prepared.quantized_layers, config.groups)
    group_of = {layer: g for g, layers in enumerate(groups) for layer in layers}
    current, partition = 0, {}
    for node in graph.graph.nodes:
        current = group_of.get(node.target, current) if node.op == 'call_module' else current
        partition[node.name] = current
    split = split_module(graph, graph, lambda node: partition[node.name], keep_original_order=True)
    eval_batches = 0
    while eval_batches < len(images) and sum(x.shape[0] for x in images[:eval_batches]) < config.eval_images:
        eval_batches += 1
    generator = torch.Generator().manual_seed(config.seed)
    nodes = list(split.graph.nodes)
    last_use = {arg: i for i, node in enumerate(nodes) for arg in node.all_input_nodes}
    quant_env: Dict = {}  # node -> its value for each calibration batch (quantized path)
    float_env: Dict = {}  # the same in FP32
    report = []
    bar = tqdm(total=len(groups), desc='reconstruction', unit='group', disable=not progress)
    for i, node in enumerate(nodes):
        if node.op == 'placeholder':
            quant_env[node] = float_env[node] = images
        elif node.op == 'call_function' and node.target is operator.getitem:
            quant_env[node] = [v[node.args[1]] for v in quant_env[node.args[0]]]
            float_env[node] = [v[node.args[1]] for v in float_env[node.args[0]]]
        elif node.op == 'call_module':  # submod_K: the K-th group
            index = int(node.target.rsplit('_', 1)[1])
            quant_env[node], float_env[node], result = _reconstruct_group(
                split.get_submodule(node.target), tunables, [list(v) for v in zip(*(quant_env[a] for a in node.args))],
                [list(v) for v in zip(*(float_env[a] for a in node.args))], eval_batches, config, generator,
                progress, desc=f'group {index + 1}/{len(groups)}')
            report.append(dict(layers=groups[index], **result))
            bar.update()
        for arg in node.all_input_nodes:
            if last_use.get(arg) == i:
                quant_env.pop(arg, None)
                float_env.pop(arg, None)
    bar.close()
    _write_back(prepared, tunables)
    return dict(config=config.to_dict(), images=sum(x.shape[0] for x in images), groups=report)

"""reparameterize_model on a small multi-block model, and on stand-ins for other libraries' rep modules."""
import logging
from typing import List

import torch
from mmengine.logging import MMLogger
from torch import nn

from qarep_det import reparameterize_model
from qarep_det.models.layers import ConvBNAct, QARepVGGBlock, QARepVGGBlockV2, RepModule, RepVGGBlock
from testing_utils import randomize_bn, relative_error


class TinyNet(nn.Module):
    """Rep blocks at several depths, mixed with plain modules that must be left alone."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, 8, 3, 2, act_cfg=dict(type='SiLU'))
        self.stage = nn.Sequential(RepVGGBlock(8, 16, stride=2), QARepVGGBlock(16, 16),
                                   QARepVGGBlockV2(16, 16, groups=4))
        self.branch = nn.ModuleDict(dict(a=QARepVGGBlockV2(16, 32, stride=2), b=nn.Conv2d(32, 5, 1)))
        self.norm = nn.BatchNorm2d(5)  # not part of a rep block: kept

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.branch['b'](self.branch['a'](self.stage(self.stem(x)))))


def make_net() -> TinyNet:
    torch.manual_seed(0)
    return randomize_bn(TinyNet().double(), torch.Generator().manual_seed(0)).eval()


def test_reparameterize_model_keeps_outputs_and_returns_a_copy() -> None:
    net = make_net()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    expected = net(x)
    fused = reparameterize_model(net)
    assert fused is not net
    assert all(not m.deploy for m in net.modules() if isinstance(m, RepModule))  # the original is untouched
    assert relative_error(fused(x), expected) < 1e-10
    rep_modules = [m for m in fused.modules() if isinstance(m, RepModule)]
    assert len(rep_modules) == 5 and all(m.deploy for m in rep_modules)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules()) == 1  # only the plain one is left
    assert sum(isinstance(m, nn.Conv2d) for m in fused.modules()) == 6


def test_reparameterize_model_inplace_and_idempotent() -> None:
    net = make_net()
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    expected = net(x)
    assert reparameterize_model(net, inplace=True) is net
    state = {k: v.clone() for k, v in net.state_dict().items()}
    reparameterize_model(net, inplace=True)
    assert state.keys() == net.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert relative_error(net(x), expected) < 1e-10


class SwitchToDeployBlock(nn.Module):
    """mmyolo / mmpretrain / YOLOv6 style: ``conv3x3 + conv1x1``, merged in place by ``switch_to_deploy()``."""

    def __init__(self) -> None:
        super().__init__()
        self.deploy = False
        self.rbr_dense = nn.Conv2d(4, 4, 3, padding=1)
        self.rbr_1x1 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.rbr_reparam(x)
        return self.rbr_dense(x) + self.rbr_1x1(x)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        if self.deploy:  # idempotent, as mmyolo's and YOLOv6's are
            return
        self.rbr_reparam = nn.Conv2d(4, 4, 3, padding=1).to(self.rbr_dense.weight.dtype)
        self.rbr_reparam.weight.copy_(self.rbr_dense.weight + nn.functional.pad(self.rbr_1x1.weight, [1, 1, 1, 1]))
        self.rbr_reparam.bias.copy_(self.rbr_dense.bias + self.rbr_1x1.bias)
        del self.rbr_dense, self.rbr_1x1
        self.deploy = True


class TimmStyleBlock(nn.Module):
    """timm style: ``conv + x``, merged in place by ``reparameterize()``; holds a rep block of ours."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_kxk = nn.Conv2d(4, 4, 3, padding=1)
        self.inner = QARepVGGBlock(4, 4)
        self.reparam_conv = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.reparam_conv(x) if self.reparam_conv is not None else self.conv_kxk(x) + x
        return self.inner(out)

    @torch.no_grad()
    def reparameterize(self) -> None:
        self.reparam_conv = nn.Conv2d(4, 4, 3, padding=1).to(self.conv_kxk.weight.dtype)
        eye = torch.zeros_like(self.conv_kxk.weight)
        eye[range(4), range(4), 1, 1] = 1
        self.reparam_conv.weight.copy_(self.conv_kxk.weight + eye)
        self.reparam_conv.bias.copy_(self.conv_kxk.bias)
        del self.conv_kxk


class ConvNorm(nn.Sequential):
    """timm's ``fuse()`` convention: returns the fused module, which replaces this one."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4))

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        conv, bn = self
        fused = nn.Conv2d(4, 4, 1).to(conv.weight.dtype)
        scale = bn.weight / (bn.running_var + bn.eps).sqrt()
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        return fused


class NoFusionMethodBlock(nn.Module):
    """Has a training/deploy flag but no fusion method: must be named in the warning, not skipped silently."""

    def __init__(self) -> None:
        super().__init__()
        self.deploy = False
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FuseWithArguments(nn.Module):
    """mmdet's FPG neck has ``fuse(fuse_dict)``: a method of that name that is not a fusion."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def fuse(self, parts: dict) -> torch.Tensor:
        return sum(parts.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(dict(a=self.conv(x), b=x))


class ForeignNet(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(SwitchToDeployBlock(), TimmStyleBlock(), ConvNorm(), NoFusionMethodBlock(),
                         FuseWithArguments())


class LogRecords(logging.Handler):
    """Collects the warnings (and errors) of mmengine's current logger while installed."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> 'LogRecords':
        MMLogger.get_current_instance().addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        MMLogger.get_current_instance().removeHandler(self)


def test_modules_of_other_libraries_are_fused_by_their_own_method() -> None:
    torch.manual_seed(0)
    net = randomize_bn(ForeignNet().double(), torch.Generator().manual_seed(0)).eval()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    expected = net(x)
    with LogRecords() as log:
        fused = reparameterize_model(net)
    assert relative_error(fused(x), expected) < 1e-10
    switch, timm_style, conv_norm, unfusable, fuse_with_arguments = fused
    assert switch.deploy and not hasattr(switch, 'rbr_dense') and isinstance(switch.rbr_reparam, nn.Conv2d)
    assert not hasattr(timm_style, 'conv_kxk') and isinstance(timm_style.reparam_conv, nn.Conv2d)
    assert timm_style.inner.deploy  # the walk goes on into the children of a fused module
    assert type(conv_norm) is nn.Conv2d  # what fuse() returned took its place
    assert not unfusable.deploy and isinstance(fuse_with_arguments.conv, nn.Conv2d)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert isinstance(net[2], ConvNorm) and not net[0].deploy  # the original is untouched
    assert [(r.levelno, r.getMessage()) for r in log.records] == [(
        logging.WARNING,
        'reparameterize_model: 1 module(s) look re-parameterizable but define none of fuse(), reparameterize(), '
        'switch_to_deploy(), so they were left unfused: NoFusionMethodBlock (3)')]


def test_deployed_and_plain_modules_give_no_warning() -> None:
    net = nn.Sequential(SwitchToDeployBlock(), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
    net[0].switch_to_deploy()
    with LogRecords() as log:
        reparameterize_model(net, inplace=True)
        reparameterize_model(make_net())
    assert log.records == []


def test_the_warning_groups_many_unfusable_modules_by_class() -> None:
    net = nn.Sequential(*(NoFusionMethodBlock() for _ in range(7)), nn.ModuleDict(dict(head=FlaggedHead())))
    with LogRecords() as log:
        reparameterize_model(net, inplace=True)
    assert [r.getMessage().split('left unfused: ')[1] for r in log.records] == [
        'NoFusionMethodBlock (0, 1, 2, 3, 4 and 2 more); FlaggedHead (7.head)']
    assert log.records[0].getMessage().startswith('reparameterize_model: 8 module(s) look re-parameterizable')


class FlaggedHead(nn.Module):
    """Named like a rep branch (``rbr_*``) without a deploy flag."""

    def __init__(self) -> None:
        super().__init__()
        self.rbr_identity = nn.BatchNorm2d(4)

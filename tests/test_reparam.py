"""reparameterize_model on a small multi-block model."""
import torch
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

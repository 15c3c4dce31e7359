"""YOLOv6 v3.0 N/S/M/L built from backbone + neck + head module match the official networks.

Published figures: the official YOLOv6 README, release 0.4.0 = Li et al., "YOLOv6 v3.0: A
Full-Scale Reloading", 2023 (deployed models, 640x640, 80 classes). The exact counts were
measured on the official repository (meituan/YOLOv6 at e86a483, ``configs/yolov6{n,s,m,l}.py``,
default training mode) with ``fuse_model`` + ``switch_to_deploy``, leaving out the constant DFL
projection (``proj``, ``proj_conv``) which is a buffer here.
"""
import pytest
import torch
from mmdet.registry import MODELS
from torch import Tensor, nn

from qarep_det import reparameterize_model

PUBLISHED = {'N': (4.7, 11.4), 'S': (18.5, 45.3), 'M': (34.9, 85.8), 'L': (59.6, 150.7)}  # params (M), GFLOPs
OFFICIAL_TRAIN_PARAMS = {'N': 5_058_236, 'S': 20_147_324, 'M': 37_740_948, 'L': 59_638_697}
OFFICIAL_DEPLOY_PARAMS = {'N': 4_646_940, 'S': 18_537_276, 'M': 34_855_924, 'L': 59_607_529}
SILU = dict(type='SiLU')


def yolov6_v3(name: str, block_cfg: dict = dict(type='RepVGGBlock')) -> nn.Sequential:
    """The official v3.0 model ``name`` as backbone -> neck -> head module (80 classes)."""
    if name in ('N', 'S'):
        scale = dict(deepen_factor=0.33, widen_factor=0.25 if name == 'N' else 0.5)
        parts = [dict(type='EfficientRep', use_cspsppf=True, block_cfg=block_cfg, **scale),
                 dict(type='RepBiFPANNeck', block_cfg=block_cfg, **scale),
                 dict(type='YOLOv6HeadModule', reg_max=0, widen_factor=scale['widen_factor'])]
    elif name == 'M':
        scale = dict(deepen_factor=0.6, widen_factor=0.75)
        parts = [dict(type='CSPBepBackbone', csp_e=2 / 3, block_cfg=block_cfg, **scale),
                 dict(type='CSPRepBiFPANNeck', csp_e=2 / 3, block_cfg=block_cfg, **scale),
                 dict(type='YOLOv6HeadModule', reg_max=16, widen_factor=0.75)]
    else:  # L: plain conv-BN-SiLU blocks (training_mode='conv_silu')
        block = dict(type='ConvBNAct', act_cfg=SILU)
        parts = [dict(type='CSPBepBackbone', csp_e=0.5, block_cfg=block, act_cfg=SILU),
                 dict(type='CSPRepBiFPANNeck', csp_e=0.5, block_cfg=block, csp_act_cfg=SILU),
                 dict(type='YOLOv6HeadModule', reg_max=16)]
    return nn.Sequential(*(MODELS.build(cfg) for cfg in parts))


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def gflops(model: nn.Module, size: int = 640, probe: int = 64) -> float:
    """YOLOv6's convention (thop at ``probe`` px scaled to ``size``, FLOPs = 2 x MACs).

    Counts convolutions only (everything else is negligible in a fused model); a transposed conv
    is counted as thop does, ``output elements x in_channels x k x k``.
    """
    macs = []

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        kernel = module.weight.shape[2] * module.weight.shape[3]
        macs.append(output.numel() * module.in_channels // module.groups * kernel)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    model(torch.zeros(1, 3, probe, probe))
    for handle in handles:
        handle.remove()
    return 2 * sum(macs) * (size / probe) ** 2 / 1e9


@pytest.mark.parametrize('name', ['N', 'S', 'M', 'L'])
def test_size_and_flops_match_official_yolov6_v3(name) -> None:
    torch.manual_seed(0)
    model = yolov6_v3(name).eval()
    assert num_params(model) == OFFICIAL_TRAIN_PARAMS[name]
    fused = reparameterize_model(model, inplace=True)
    assert num_params(fused) == OFFICIAL_DEPLOY_PARAMS[name]
    published_params, published_gflops = PUBLISHED[name]
    assert num_params(fused) / 1e6 == pytest.approx(published_params, rel=0.015)
    assert gflops(fused) == pytest.approx(published_gflops, rel=0.005)
    cls_scores, bbox_preds = fused(torch.zeros(1, 3, 64, 64))
    assert [tuple(t.shape) for t in cls_scores] == [(1, 80, 8, 8), (1, 80, 4, 4), (1, 80, 2, 2)]
    reg_channels = 4 if name in ('N', 'S') else 68
    assert [t.shape[1] for t in bbox_preds] == [reg_channels] * 3


def test_qarepvgg_v2_nano_fuses_to_the_same_network() -> None:
    model = yolov6_v3('N', block_cfg=dict(type='QARepVGGBlockV2'))
    assert num_params(model) < OFFICIAL_TRAIN_PARAMS['N']  # one post-sum BN replaces the 1x1 and identity BNs
    assert num_params(reparameterize_model(model.eval())) == OFFICIAL_DEPLOY_PARAMS['N']

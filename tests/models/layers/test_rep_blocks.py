"""Rep blocks: fused == unfused, exactly one conv after fusion, idempotence, deploy loading, gradients."""
import copy
from typing import Type

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdet.registry import MODELS
from torch import nn

from qarep_det.models.layers import ConvBNAct, QARepVGGBlock, QARepVGGBlockV2, RepModule, RepVGGBlock
from testing_utils import randomize_bn, relative_error

BLOCKS = [RepVGGBlock, QARepVGGBlock, QARepVGGBlockV2]
# Tolerances of the issue: 1e-10 relative in float64, 1e-4 in float32.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}


def make_block(block_type: Type[RepModule], in_channels: int, out_channels: int, seed: int = 0,
               dtype: torch.dtype = torch.float64, **kwargs) -> RepModule:
    torch.manual_seed(seed)
    block = block_type(in_channels, out_channels, **kwargs).to(dtype)
    return randomize_bn(block, torch.Generator().manual_seed(seed)).eval()


def assert_fusion_exact(block: RepModule, x: torch.Tensor) -> None:
    expected = block(x)
    block.reparameterize()
    assert relative_error(block(x), expected) < TOLERANCE[x.dtype]


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('channels', [(8, 8), (8, 16)], ids=['in==out', 'in!=out'])
@pytest.mark.parametrize('groups', [1, 4])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('block_type', BLOCKS, ids=lambda t: t.__name__)
def test_fused_equals_unfused(block_type, stride, groups, channels, dtype) -> None:
    block = make_block(block_type, *channels, dtype=dtype, stride=stride, groups=groups)
    x = torch.randn(2, channels[0], 11, 10, dtype=dtype, generator=torch.Generator().manual_seed(1))
    assert_fusion_exact(block, x)


@settings(max_examples=40, deadline=None)
@given(block_index=st.integers(0, len(BLOCKS) - 1), group_width_in=st.integers(1, 3), group_width_out=st.integers(1, 3),
       groups=st.sampled_from([1, 2, 3]), same_channels=st.booleans(), kernel_size=st.sampled_from([1, 3, 5]),
       stride=st.sampled_from([1, 2]), height=st.integers(1, 9), width=st.integers(1, 9), batch=st.integers(1, 2),
       act=st.sampled_from([None, 'ReLU', 'SiLU']), seed=st.integers(0, 2**16))
def test_fused_equals_unfused_property(block_index, group_width_in, group_width_out, groups, same_channels,
                                       kernel_size, stride, height, width, batch, act, seed) -> None:
    in_channels = group_width_in * groups
    out_channels = in_channels if same_channels else group_width_out * groups
    block = make_block(BLOCKS[block_index], in_channels, out_channels, seed=seed, kernel_size=kernel_size,
                       stride=stride, groups=groups, act_cfg=None if act is None else dict(type=act))
    x = torch.randn(batch, in_channels, height, width, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    assert_fusion_exact(block, x)


@pytest.mark.parametrize('block_type', BLOCKS, ids=lambda t: t.__name__)
def test_branches_exist_as_specified(block_type) -> None:
    block = block_type(8, 8)
    assert block.identity is not None
    assert block_type(8, 16).identity is None
    assert block_type(8, 8, stride=2).identity is None
    if block_type is RepVGGBlock:
        assert isinstance(block.identity, nn.BatchNorm2d)
        assert isinstance(block.conv_1x1.bn, nn.BatchNorm2d)
    else:
        assert isinstance(block.identity, nn.Identity)
        assert isinstance(block.conv_1x1, nn.Conv2d) and block.conv_1x1.bias is None  # 1x1 without BN, no bias
        assert isinstance(block.bn, nn.BatchNorm2d)  # the one BN after the sum
    if block_type is QARepVGGBlockV2:
        assert isinstance(block.avg_pool, nn.AvgPool2d)
        assert block_type(8, 8, stride=2).avg_pool is None  # as the identity (YOLOv6 v3.0's block)
        assert block_type(8, 16).avg_pool is None


@pytest.mark.parametrize('block_type', BLOCKS + [ConvBNAct], ids=lambda t: t.__name__)
def test_fused_block_is_one_conv_with_bias(block_type) -> None:
    block = make_block(block_type, 8, 8, kernel_size=3)
    block.reparameterize()
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [block.reparam_conv] and block.reparam_conv.bias is not None
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.AvgPool2d)) for m in block.modules())
    assert set(block.state_dict()) == {'reparam_conv.weight', 'reparam_conv.bias'}
    assert block.deploy


@pytest.mark.parametrize('block_type', BLOCKS + [ConvBNAct], ids=lambda t: t.__name__)
def test_reparameterize_is_idempotent(block_type) -> None:
    block = make_block(block_type, 8, 8, kernel_size=3)
    block.reparameterize()
    conv, state = block.reparam_conv, copy.deepcopy(block.state_dict())
    block.reparameterize()
    assert block.reparam_conv is conv
    assert all(torch.equal(state[k], v) for k, v in block.state_dict().items())


@pytest.mark.parametrize('block_type', BLOCKS + [ConvBNAct], ids=lambda t: t.__name__)
@pytest.mark.parametrize('stride', [1, 2])
def test_fused_state_dict_loads_into_deploy_block(block_type, stride) -> None:
    block = make_block(block_type, 8, 8, kernel_size=3, stride=stride, dtype=torch.float32)
    x = torch.randn(1, 8, 12, 12)
    expected = block(x)
    block.reparameterize()
    deployed = block_type(8, 8, kernel_size=3, stride=stride, deploy=True).eval()
    deployed.load_state_dict(block.state_dict(), strict=True)
    assert relative_error(deployed(x), expected) < 1e-4
    assert torch.equal(deployed(x), block(x))


@pytest.mark.parametrize('block_type', BLOCKS, ids=lambda t: t.__name__)
def test_gradients_reach_every_branch(block_type) -> None:
    block = block_type(8, 8).train()
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    block(x).square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize('block_type', BLOCKS, ids=lambda t: t.__name__)
def test_fusion_does_not_depend_on_order(block_type) -> None:
    """Fusing the inner conv-BN branch first must not change the block's fusion."""
    reference = make_block(block_type, 8, 8)
    inner_first = copy.deepcopy(reference)
    x = torch.randn(1, 8, 7, 7, dtype=torch.float64)
    reference.reparameterize()
    inner_first.conv_kxk.reparameterize()
    inner_first.reparameterize()
    assert relative_error(inner_first(x), reference(x)) < 1e-12


@pytest.mark.parametrize('name', ['RepVGGBlock', 'QARepVGGBlock', 'QARepVGGBlockV2', 'ConvBNAct'])
def test_registered_in_mmdet_models(name) -> None:
    block = MODELS.build(dict(type=name, in_channels=32, out_channels=32, kernel_size=3))
    assert type(block).__name__ == name
    assert block(torch.randn(1, 32, 8, 8)).shape == (1, 32, 8, 8)


def test_norm_cfg_and_act_cfg_are_honoured() -> None:
    block = QARepVGGBlock(8, 8, act_cfg=dict(type='SiLU'), norm_cfg=dict(type='BN', eps=1e-3, momentum=0.03))
    assert isinstance(block.act, nn.SiLU)
    assert block.bn.eps == 1e-3 and block.conv_kxk.bn.momentum == 0.03
    sync = QARepVGGBlock(8, 8, norm_cfg=dict(type='SyncBN'))
    assert isinstance(sync.bn, nn.SyncBatchNorm) and isinstance(sync.conv_kxk.bn, nn.SyncBatchNorm)


def test_activations_are_not_shared() -> None:
    a, b = QARepVGGBlock(8, 8), QARepVGGBlock(8, 8)
    assert a.act is not b.act


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match=r'must be divisible by groups \(4\)'):
        QARepVGGBlock(6, 8, groups=4)
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        RepVGGBlock(8, 8, kernel_size=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('block_type', BLOCKS, ids=lambda t: t.__name__)
def test_fusion_on_cuda(block_type) -> None:
    block = make_block(block_type, 8, 8, dtype=torch.float32).cuda()
    assert_fusion_exact(block, torch.randn(2, 8, 9, 9, device='cuda'))
    assert block.reparam_conv.weight.device.type == 'cuda'

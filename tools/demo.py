"""The main job on the embedded default: build, fuse and check re-parameterizable networks.

For every block type, builds a small VGG-style network (a stride-2 stem and stages of rep blocks,
configured through ``block_cfg`` as in the model configs), gives its BatchNorms non-trivial
statistics, fuses it with :func:`qarep_det.reparameterize_model` and reports the largest output
difference, the layer counts and the CPU latency before and after fusion. Exits 1 if a fused
network differs from its training form by more than the tolerance.
"""
import argparse
import sys
import time

import torch
from mmdet.registry import MODELS
from torch import nn

from qarep_det import reparameterize_model

BLOCK_TYPES = ('RepVGGBlock', 'QARepVGGBlock', 'QARepVGGBlockV2')


def build_net(block_type: str, widths=(16, 32, 64, 128), depths=(1, 2, 4, 1)) -> nn.Sequential:
    layers, in_channels = [], 3
    for width, depth in zip(widths, depths):
        for i in range(depth):
            layers.append(MODELS.build(dict(type=block_type, in_channels=in_channels, out_channels=width,
                                             stride=2 if i == 0 else 1)))
            in_channels = width
    return nn.Sequential(*layers)


@torch.no_grad()
def settle_batchnorm(net: nn.Module, images: torch.Tensor, steps: int = 5) -> None:
    """A few training-mode passes so that every BN holds real running statistics."""
    net.train()
    for _ in range(steps):
        net(images)
    net.eval()


@torch.no_grad()
def latency_ms(net: nn.Module, x: torch.Tensor, repeats: int = 10) -> float:
    net(x)
    start = time.perf_counter()
    for _ in range(repeats):
        net(x)
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=320, help='input resolution (square)')
    parser.add_argument('--tolerance', type=float, default=1e-4, help='max relative output difference')
    args = parser.parse_args()
    torch.manual_seed(0)
    images = torch.rand(4, 3, args.size, args.size)
    count = lambda net, kind: sum(isinstance(m, kind) for m in net.modules())  # noqa: E731
    print(f'{"block":<16} {"convs":>11} {"BNs":>9} {"max rel diff":>13} {"ms unfused":>11} {"ms fused":>9}')
    failed = False
    for block_type in BLOCK_TYPES:
        net = build_net(block_type)
        settle_batchnorm(net, images)
        fused = reparameterize_model(net)
        x = images[:1]
        expected, actual = net(x), fused(x)
        diff = ((actual - expected).abs().max() / expected.abs().max()).item()
        failed |= diff > args.tolerance
        print(f'{block_type:<16} {count(net, nn.Conv2d):>5} -> {count(fused, nn.Conv2d):<3} '
              f'{count(net, nn.BatchNorm2d):>4} -> {count(fused, nn.BatchNorm2d):<2} {diff:>13.2e} '
              f'{latency_ms(net, x):>11.2f} {latency_ms(fused, x):>9.2f}')
    print('FAILED: a fused network differs from its training form' if failed else
          'OK: every fused network equals its training form')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

from .conv import ConvBNAct, RepModule
from .csp_layers import CSPSPPF, SPPF, BepC3, BottleRep, RepStage, scale_depth, scale_width
from .fusion import avg_pool_kernel, fuse_bn, fuse_bn_module, identity_kernel, pad_kernel
from .rep_blocks import QARepVGGBlock, QARepVGGBlockV2, RepVGGBlock

__all__ = [
    'ConvBNAct', 'RepModule', 'RepVGGBlock', 'QARepVGGBlock', 'QARepVGGBlockV2', 'fuse_bn', 'fuse_bn_module',
    'pad_kernel', 'identity_kernel', 'avg_pool_kernel', 'CSPSPPF', 'SPPF', 'BepC3', 'BottleRep', 'RepStage',
    'scale_depth', 'scale_width'
]

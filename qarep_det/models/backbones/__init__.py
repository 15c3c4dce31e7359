from .base_backbone import BaseRepBackbone
from .efficient_rep import CSPBepBackbone, EfficientRep
from .repvgg import QARepVGG, RepVGG

__all__ = ['BaseRepBackbone', 'EfficientRep', 'CSPBepBackbone', 'RepVGG', 'QARepVGG']

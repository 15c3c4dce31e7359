from .rep_bifpan import BiFusion, CSPRepBiFPANNeck, RepBiFPANNeck
from .rep_pan import CSPRepPANNeck, RepPANNeck

__all__ = ['RepPANNeck', 'CSPRepPANNeck', 'RepBiFPANNeck', 'CSPRepBiFPANNeck', 'BiFusion']

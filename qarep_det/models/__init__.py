from .layers import *  # noqa: F401,F403  (importing registers the modules)
from . import backbones, dense_heads, necks  # noqa: F401  (importing registers the modules)

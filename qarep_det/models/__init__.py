from .layers import *  # noqa: F401,F403  (importing registers the modules)

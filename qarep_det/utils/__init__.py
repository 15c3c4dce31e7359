"""Small helpers shared by the command-line tools."""
from .cli import BadInput, OneLineParser, load_config
from .dist import adapt_cpu_distributed

__all__ = ['BadInput', 'OneLineParser', 'adapt_cpu_distributed', 'load_config']

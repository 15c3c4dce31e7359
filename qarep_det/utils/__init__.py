"""Small helpers shared by the command-line tools."""
from .cli import BadInput, OneLineParser, load_config

__all__ = ['BadInput', 'OneLineParser', 'load_config']

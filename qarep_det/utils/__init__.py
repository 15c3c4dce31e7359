"""Small helpers shared by the command-line tools."""
from .cli import BadInput, OneLineParser, add_runner_arguments, load_config, parse_runner_args
from .dist import adapt_cpu_distributed

__all__ = ['BadInput', 'OneLineParser', 'adapt_cpu_distributed', 'add_runner_arguments', 'load_config',
           'parse_runner_args']

"""Helpers shared by the tools and the pipelines: one error type, the CLI, configs, atomic outputs."""
from .cli import OneLineParser, add_runner_arguments, parse_runner_args, positive_int, run_tool
from .config import (apply_cfg_options, check_data_files, check_schedule, config_from_text, load_config,
                     parse_cfg_options)
from .dist import adapt_cpu_distributed
from .errors import BadInput
from .io import StagedOutputDir, atomic_output, check_writable, write_atomic, write_json_atomic

__all__ = ['BadInput', 'OneLineParser', 'StagedOutputDir', 'adapt_cpu_distributed', 'add_runner_arguments',
           'apply_cfg_options', 'atomic_output', 'check_data_files', 'check_schedule', 'check_writable',
           'config_from_text', 'load_config', 'parse_cfg_options', 'parse_runner_args', 'positive_int',
           'run_tool', 'write_atomic', 'write_json_atomic']

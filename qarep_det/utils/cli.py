"""What ``tools/train.py`` and ``tools/test.py`` share: one-line errors and config loading."""
import argparse
import os
from pathlib import Path
from typing import Optional, Sequence

from mmengine.config import Config, DictAction


class BadInput(Exception):
    """Bad input to a tool (the user's to fix); its message is one line."""


class OneLineParser(argparse.ArgumentParser):
    """Reports usage errors in one line on stderr (exit code 2) instead of usage + message."""

    def error(self, message: str) -> None:
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def load_config(path: str) -> Config:
    """The config at ``path``; :class:`BadInput` if it is missing or does not load."""
    if not Path(path).is_file():
        raise BadInput(f'no such config file: {path}')
    try:
        return Config.fromfile(path)
    except Exception as err:  # a broken config is bad input: one line, no traceback
        message = ' '.join(str(err).split())
        raise BadInput(f'cannot load config {path}: {type(err).__name__}: {message}') from None


def add_runner_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """``--cfg-options``, ``--launcher`` and torchrun's ``--local-rank``, as mmdet's tools take them.

    Args:
        parser: The tool's parser.
        example: A ``KEY=VALUE`` shown in the help of ``--cfg-options``.
    """
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help=f'override config entries, e.g. {example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def parse_runner_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv``; the local rank also goes to ``$LOCAL_RANK`` (older launchers pass it as an argument)."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args

"""What every command-line tool shares: one-line errors, the parser, the run wrapper, runner arguments.

Provenance: MMDetection 3.3.0 ``tools/train.py`` / ``tools/test.py`` (``--cfg-options``,
``--launcher``, ``--local-rank``); the one-line error convention is qarep_det's own.
"""
import argparse
import os
import signal
import sys
from typing import Callable, NoReturn, Optional, Sequence

from .errors import BadInput


class OneLineParser(argparse.ArgumentParser):
    """Reports usage errors in one line on stderr (exit code 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that ``finally`` blocks clean up as on Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _say(line: str, code: int) -> int:
    """Write ``line`` to stderr for the user (not a log record) and return ``code``."""
    sys.stderr.write(line + '\n')
    sys.stderr.flush()
    return code


def run_tool(prog: str, main: Callable[[], int]) -> int:
    """Run a tool's ``main``: :class:`BadInput` is one line and exit 2, Ctrl-C exit 130, SIGTERM exit 143.

    Both interruptions unwind the stack, so staging folders and temporary files are removed.

    Args:
        prog: The tool's name, the prefix of its messages.
        main: The tool's body; returns its exit code.
    """
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return main()
    except BadInput as err:
        return _say(f'{prog}: error: {err}', 2)
    except KeyboardInterrupt:
        return _say(f'{prog}: interrupted', 130)
    except Terminated:
        return _say(f'{prog}: terminated', 143)
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_runner_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """``--cfg-options``, ``--launcher`` and torchrun's ``--local-rank``, as mmdet's tools take them.

    Args:
        parser: The tool's parser.
        example: A ``KEY=VALUE`` shown in the help of ``--cfg-options``.
    """
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help=f'override config entries, e.g. {example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def parse_runner_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv``; the local rank also goes to ``$LOCAL_RANK`` (older launchers pass it as an argument)."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args

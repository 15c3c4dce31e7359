"""What ``tools/train.py`` and ``tools/test.py`` share: one-line errors and config loading."""
import argparse
from pathlib import Path

from mmengine.config import Config


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

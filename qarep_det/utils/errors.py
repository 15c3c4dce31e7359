"""The one exception type for errors a user can fix: bad files, bad values, bad folders.

Provenance: qarep_det's own convention (DEVELOPERS guide): every tool prints such an error as one
line on stderr and exits with code 2; anything else is a bug and keeps its traceback.
"""


class BadInput(Exception):
    """Bad input to a tool or library entry point (the user's to fix); its message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(' '.join(str(message).split()))

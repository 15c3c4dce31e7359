"""Atomic outputs: a file or a whole folder appears complete or not at all, and nothing the user
had is overwritten.

Provenance: the write-to-a-sibling-then-``os.replace`` idiom (POSIX ``rename(2)`` is atomic within
one file system).
"""
import contextlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import Iterator, Optional, Sequence, Type, Union

from .errors import BadInput

PathLike = Union[str, Path]


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists; :class:`BadInput` if a file stands in the way."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise BadInput(f'cannot write {path}: {ancestor} is a file, not a folder')
    return ancestor


def _writable_parent(path: Path) -> Path:
    """Check (creating nothing) that ``path`` can be written; returns its nearest existing ancestor."""
    ancestor = _existing_ancestor(path)
    _probe_writable(ancestor)
    return ancestor


def check_writable(path: PathLike, folder: bool = False) -> None:
    """Check, creating nothing, that a run can write ``path`` (a file, or with ``folder`` a folder).

    For outputs that a library writes itself at the end of a run (mmengine's work dir, mmdet's
    ``DumpDetResults``): a path under a file or in a read-only place is one line before the work.

    Raises:
        BadInput: A file stands where a folder is needed, ``path`` is of the other kind, or the
            place cannot be written.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise BadInput(f'{path} is a {"file" if folder else "folder"}, not a {"folder" if folder else "file"}')
    _probe_writable(path if folder and path.is_dir() else _writable_parent(path))


def _make_parents(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f'cannot create {path.parent}: {exc.strerror or exc}') from None


def _remove_made(folder: Path, ancestor: Path) -> None:
    """Remove the empty folders from ``folder`` up to (not including) ``ancestor``: what a failed run made."""
    while folder != ancestor and ancestor in folder.parents:
        if folder.exists():
            try:
                folder.rmdir()
            except OSError:  # not empty: not only ours
                return
        folder = folder.parent


def _probe_writable(folder: Path) -> None:
    """Create and remove a file in ``folder`` (permission bits say nothing for root, nor of an immutable
    or read-only-mounted folder); :class:`BadInput` if that fails."""
    try:
        fd, probe = tempfile.mkstemp(prefix='.write-probe-', dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f'cannot write into {folder}: {exc.strerror or exc}') from None


@contextlib.contextmanager
def atomic_output(path: PathLike, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; moved onto ``path`` when the ``with`` body succeeds, removed otherwise.

    Args:
        path: The file to write.
        overwrite: Replace an existing ``path``; if False an existing one is :class:`BadInput`.

    Yields:
        The temporary path to write to (it does not exist yet).
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise BadInput(f'{path} exists: nothing was overwritten')
    if path.is_dir():
        raise BadInput(f'cannot write {path}: it is a folder')
    ancestor = _writable_parent(path)
    _make_parents(path)
    tmp = path.parent / f'.{path.name}.{uuid.uuid4().hex[:12]}.tmp'
    done = False
    try:
        yield tmp
        os.replace(tmp, path)
        done = True
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if not done:
            _remove_made(path.parent, ancestor)


def write_atomic(path: PathLike, data: Union[str, bytes], overwrite: bool = True) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, 'xb') as f:  # 'x': created with the umask, never through a planted link
            f.write(data.encode('utf-8') if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())


def write_json_atomic(path: PathLike, obj: object, indent: Optional[int] = 2, overwrite: bool = True) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    write_atomic(path, json.dumps(obj, indent=indent) + '\n', overwrite)


class StagedOutputDir:
    """A hidden staging folder for one run's outputs, published into ``out_dir`` on success only.

    Everything is written into ``.{name}.partial-*`` beside ``out_dir`` and moved into place when
    the ``with`` body succeeds, ``last`` files at the end (a folder holding ``last`` holds a whole
    run). On any failure (an exception, Ctrl-C, SIGTERM turned into an exception by
    :func:`~qarep_det.utils.cli.run_tool`) the staging folder is removed. Nothing in ``out_dir``
    is overwritten.

    Args:
        out_dir: The folder the user asked for; may exist (without ``last``) or not.
        last: Names published last; their presence in ``out_dir`` marks a finished run, so an
            ``out_dir`` holding one is refused up front.
        outputs: Other names the run will write: an ``out_dir`` that already has one (a file of
            the user's) is refused up front too, not after the work.

    Raises:
        BadInput: ``out_dir`` already holds a finished run or one of ``outputs``, is a file, or
            cannot be written.
    """

    def __init__(self, out_dir: PathLike, last: Sequence[str] = (), outputs: Sequence[str] = ()) -> None:
        self.out_dir = Path(out_dir)
        self.last = tuple(last)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise BadInput(f'{out_dir} is a file, not a folder')
        done = [name for name in self.last if (self.out_dir / name).exists()]
        if done:
            raise BadInput(f'{out_dir} already holds {done[0]}: choose another output folder; nothing was overwritten')
        taken = [name for name in outputs if (self.out_dir / name).exists()]
        if taken:
            raise BadInput(f'{out_dir} already has {", ".join(taken)}: choose another output folder; '
                           'nothing was overwritten')
        self.ancestor = _writable_parent(self.out_dir)
        self.existed = self.out_dir.exists()
        if self.existed:
            _probe_writable(self.out_dir)
        self.path: Optional[Path] = None

    def __enter__(self) -> Path:
        _make_parents(self.out_dir)
        self.path = Path(tempfile.mkdtemp(prefix=f'.{self.out_dir.name}.partial-', dir=self.out_dir.parent))
        return self.path

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        published = False
        try:
            if exc_type is None:
                self._publish()
                published = True
        finally:
            shutil.rmtree(self.path, ignore_errors=True)
            if not published and not self.existed:
                _remove_made(self.out_dir, self.ancestor)

    def _publish(self) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f'cannot create {self.out_dir}: {exc.strerror or exc}') from None
        names = sorted(p.name for p in self.path.iterdir())
        clashes = [n for n in names if (self.out_dir / n).exists()]
        if clashes:
            raise BadInput(f'{self.out_dir} already has {", ".join(clashes)}: nothing was overwritten')
        try:
            for name in sorted(names, key=lambda n: n in self.last):  # the marker files last
                os.replace(self.path / name, self.out_dir / name)
        except OSError as exc:
            raise BadInput(f'cannot write into {self.out_dir}: {exc.strerror or exc}') from None

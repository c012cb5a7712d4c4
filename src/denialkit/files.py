"""Private files: everything denialkit writes may hold patient data, so it is owner-only.

Files are created 0600 and folders 0700 whatever the umask (HIPAA minimum necessary: the
office's other accounts have no business reading letters, reports or logs). A file is written
to a temporary name beside it and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing folder is left as it is.

    Raises ``UsageError`` saying why when it cannot be created.
    """
    p = Path(path)
    if p.is_dir():
        return p
    missing = []
    q = p
    while not q.exists() and q != q.parent:
        missing.append(q)
        q = q.parent
    if q.exists() and not q.is_dir():
        raise UsageError(f"cannot create folder {p}: {q} is a file")
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(f"cannot create folder {d}: {exc.strerror}") from None
        os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask
    return p


def check_new_file(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Check that ``path`` may be written: not a folder, not an existing file unless ``force``."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a folder; give a file name")
    if p.exists() and not force:
        raise UsageError(f"{p} exists", parameter="path", remedy="overwrite")
    return p


@contextlib.contextmanager
def private_open(
    path: str | os.PathLike[str], mode: str = "w", *, force: bool = True
) -> Iterator[IO[Any]]:
    """Open a file for writing, owner-only (0600): ``"w"`` (text) or ``"wb"`` (bytes) write a
    temporary file and rename it over ``path`` when the block ends without an error; ``"a"``
    appends in place (logs). Missing parent folders are created 0700. ``force`` allows
    replacing an existing file (``"w"``/``"wb"``); errors are ``UsageError`` saying why."""
    p = Path(path)
    if mode not in ("w", "wb", "a"):
        raise ValueError(mode)
    if mode != "a":
        check_new_file(p, force)
    private_dir(p.parent)
    target = p if mode == "a" else p.with_name(f".{p.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    try:
        fd = os.open(target, flags | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    except OSError as exc:
        raise UsageError(f"cannot write {p}: {exc.strerror}") from None
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)  # created before this rule, or masked
        if mode == "wb":
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, mode, encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        raise
    with f:
        try:
            yield f
        except BaseException:
            if target != p:
                f.close()
                with contextlib.suppress(OSError):
                    os.unlink(target)
            raise
    if target != p:
        try:
            os.replace(target, p)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise UsageError(f"cannot write {p}: {exc.strerror}") from None


def write_private(path: str | os.PathLike[str], data: str | bytes, *, force: bool = True) -> Path:
    """Write ``data`` to ``path`` owner-only (0600), atomically; see ``private_open``."""
    with private_open(path, "wb" if isinstance(data, bytes) else "w", force=force) as f:
        f.write(data)
    return Path(path)

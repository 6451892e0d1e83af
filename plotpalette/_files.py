"""Opening user-named files safely: regular files only, reads bounded by size.

A path from a user may name a FIFO (reading blocks forever), a character device such as
``/dev/zero`` (reading never ends and memory grows until the process dies), a folder, a
dangling symlink or a symlink loop. Each gets its own message here instead of a hang or
a misleading "does not exist". Files are opened non-blocking and checked with ``fstat``
on the open descriptor, so a path swapped for a FIFO after the check cannot hang us.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from .errors import PlotPaletteError

__all__ = ["describe_special", "open_regular", "read_regular", "regular_file_problem"]

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def describe_special(mode: int) -> str | None:
    """What a non-regular, non-folder file is ("a FIFO (named pipe)", ...), else None."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None


def regular_file_problem(path: Path, *, allow_dir: bool = False) -> str | None:
    """Why ``path`` cannot be read as a regular file (``None`` when it can)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"{path} is a symbolic link to {os.readlink(path)}, which does not exist"
        return f"{path} does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symbolic link loop (the links never reach a file)"
        if exc.errno == errno.ENAMETOOLONG:
            return f"the path {str(path)[:80]}… is too long"
        return f"{path} cannot be read ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return None if allow_dir else f"{path} is a folder, not a file"
    special = describe_special(st.st_mode)
    if special:
        return f"{path} is {special}, not a regular file"
    return None


def open_regular(path: Path, error: type[PlotPaletteError], *, fix: str) -> IO[bytes]:
    """Open ``path`` for binary reading if it is a regular file, else raise ``error``."""
    problem = regular_file_problem(path)
    if problem:
        raise error(problem, fix=fix)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(f"{path} cannot be opened ({exc.strerror})", fix=fix) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the check above
            kind = describe_special(st.st_mode) or "not a regular file"
            raise error(f"{path} is {kind}, not a regular file", fix=fix)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(
    path: Path, error: type[PlotPaletteError], *, max_bytes: int, what: str, fix: str
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (read no further than that)."""
    with open_regular(path, error, fix=fix) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(
            f"{path} is larger than the {max_bytes:,}-byte limit for {what}",
            fix=f"Use a smaller file. {fix}",
        )
    return data

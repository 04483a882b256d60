"""Reading a small user file (cookies, an API key) safely: a regular file only, read
without blocking (a FIFO or a device would hang the ask), with a size limit."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from .errors import CookieFileError


def read_small_file(
    path: str,
    limit: int,
    what: str = "The cookie file",
    error: Callable[[str], Exception] | None = None,
) -> bytes:
    """The file's bytes; a clear error for anything that is not a small regular file
    (``error`` makes it from a sentence; else the cookie or key file's error)."""
    if error is not None:
        return _read(path, limit, lambda problem: error(f"{what} {path} {problem}."))
    return _read(path, limit, lambda problem: _error(what, path, problem))


def _read(path: str, limit: int, fail: Callable[[str], Exception]) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise fail("does not exist") from None
    except PermissionError:
        raise fail("cannot be read (permission denied)") from None
    except OSError as error:
        raise fail(f"cannot be read ({error.strerror})") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise fail("is a directory")
        raise fail("is not a regular file (a pipe or a device?)")
    with os.fdopen(descriptor, "rb") as file:
        if info.st_size > limit:
            raise fail(f"is larger than {_size(limit)}")
        try:
            # Sized by the file, not the limit: a limit's worth of buffer would be allocated.
            data = file.read(info.st_size + 1)
            if len(data) > info.st_size:  # it grew meanwhile
                data += file.read(limit + 1 - len(data))
        except OSError as error:
            raise fail(f"cannot be read ({error.strerror})") from None
    if len(data) > limit:
        raise fail(f"is larger than {_size(limit)}")
    return data


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def world_readable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def _error(what: str, path: str, problem: str) -> Exception:
    if what == "The cookie file":
        return CookieFileError(path, problem)
    from .errors import KeyFileError

    return KeyFileError(f"{what} {path} {problem}.")

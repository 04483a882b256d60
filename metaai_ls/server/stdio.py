"""Standard input as pygls reads it, with the guards a server running all day needs: a
message larger than the limit is read and thrown away in pieces (pygls would hold it,
parsed, at about 16 times its size) and answered with an error; a Content-Length that does
not match its body is logged instead of silently eating the next messages; memory freed
after a large message goes back to the system."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
from typing import BinaryIO

logger = logging.getLogger(__name__)

DEFAULT_LIMIT_MB = 16
TOO_LARGE = "$/metaai/messageTooLarge"  # what a dropped request becomes: answered with an error
LARGE = 1 << 20  # after a message this large, give freed memory back (glibc's malloc_trim)
CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")
HEADER = re.compile(rb"^[A-Za-z-]+: .*\r\n$|^\r\n$")
ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})')
METHOD = re.compile(rb'"method"\s*:\s*"([^"]{1,200})"')


def limit_from_environment() -> int:
    """METAAI_MAX_MESSAGE_MB (default 16), in bytes."""
    try:
        megabytes = float(os.environ.get("METAAI_MAX_MESSAGE_MB", DEFAULT_LIMIT_MB))
    except ValueError:
        megabytes = DEFAULT_LIMIT_MB
    return max(1, int(megabytes * (1 << 20)))


class GuardedStdin:
    """The binary stream pygls's reader calls `readline()` and `read(n)` on."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self._after_body = False
        self._trim = False

    def readline(self) -> bytes:
        if self._trim:
            self._trim = False
            _give_memory_back()
        line = self.raw.readline()
        if self._after_body and line and not HEADER.match(line):
            logger.warning(
                "the client sent bytes that are not a message header after a message: a "
                "Content-Length that did not match its body (skipping to the next header)"
            )
            # The rest of a body cut short runs into the next header: keep the header.
            at = line.find(b"Content-Length: ")
            if at > 0:
                line = line[at:]
        self._after_body = False
        return line

    def read(self, size: int) -> bytes:
        self._after_body = True
        if size <= self.limit:
            self._trim = size >= LARGE
            return self.raw.read(size)
        return self._skip(size)

    def _skip(self, size: int) -> bytes:
        """Throw the body away; a request gets an error answer (an unknown method)."""
        head = self.raw.read(min(size, 4096))
        left = size - len(head)
        while left > 0:
            piece = self.raw.read(min(left, 1 << 20))
            if not piece:
                break
            left -= len(piece)
        method = METHOD.search(head)
        name = method.group(1).decode("utf-8", "replace") if method else "unknown"
        logger.warning(
            "dropped a %.1f MB message (%s): larger than METAAI_MAX_MESSAGE_MB (%d MB)",
            size / (1 << 20),
            name,
            self.limit >> 20,
        )
        found = ID.search(head)
        message_id = found.group(1) if found and method else None
        if message_id is None:
            return b'{"jsonrpc": "2.0", "method": "$/metaai/droppedMessage"}'
        return b'{"jsonrpc": "2.0", "id": %s, "method": "%s", "params": null}' % (
            message_id,
            TOO_LARGE.encode(),
        )


def _give_memory_back() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)

"""The CLI's side of the terminal: what it reads (arguments, piped stdin), what it writes
(the answer on stdout, one sentence on stderr) and Ctrl-C, so that no mode ends in a
traceback or is killed by a signal.

- Input that is not UTF-8, or more context than is sent, is a configuration error (2).
- An answer printed where the encoding cannot show a character gets ``?`` there and a
  note at the end; a reader that closed the pipe (``| head``) ends the command quietly
  (141, as tools that die of SIGPIPE report).
- Ctrl-C: the first stops the command (its connections closed) and exits 130; a second
  one while it cleans up exits 130 at once. The language server, whose stdin thread never
  lets it exit, exits 130 at the first.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

from metaai_ls.redact import redact

INTERRUPTED = 130
CONFIG_ERROR = 2
READER_GONE = 141  # 128 + SIGPIPE
MAX_CONTEXT_BYTES = 4 << 20
LONE_ESCAPED_BYTE = range(0xDC80, 0xDD00)  # how Python hands over a non-UTF-8 argument byte


class InputError(Exception):
    """Input the command cannot use; ``message`` says what it is and what to do."""

    exit_code = CONFIG_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReaderGone(Exception):
    """The reader of stdout closed it (``| head -c 10``)."""


def say(message: str) -> None:
    """One sentence on stderr, with every secret the process holds blanked."""
    with contextlib.suppress(OSError, ValueError):
        print(f"metaai-ls: {redact(message)}", file=sys.stderr, flush=True)


# -- input


def read_context(stdin: TextIO | None = None) -> str:
    """Text piped on stdin (none from a terminal), at most MAX_CONTEXT_BYTES of UTF-8."""
    stdin = sys.stdin if stdin is None else stdin
    if stdin is None or stdin.isatty():
        return ""
    data = stdin.buffer.read(MAX_CONTEXT_BYTES + 1)
    if len(data) > MAX_CONTEXT_BYTES:
        raise InputError(
            f"the text piped on stdin is larger than {MAX_CONTEXT_BYTES >> 20} MiB, more than "
            "metaai-ls sends as context. Pipe less, for example `git diff -- PATH` or "
            f"`head -c {MAX_CONTEXT_BYTES}`."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        where = _not_utf8("the text piped on stdin", data[error.start], error.start)
        hint = "Convert it first, for example with `iconv -f latin1 -t utf-8`."
        raise InputError(f"{where} {hint}") from None


def check_argument(text: str, what: str = "the question") -> str:
    """An argument as Python received it; a non-UTF-8 byte (a Latin-1 terminal) is named."""
    for position, character in enumerate(text):
        if ord(character) in LONE_ESCAPED_BYTE:
            where = _not_utf8(what, ord(character) - 0xDC00, position)
            raise InputError(f"{where} Use a UTF-8 terminal or locale (LANG=C.UTF-8).")
    return text


def _not_utf8(what: str, byte: int, position: int) -> str:
    return f"{what} is not UTF-8 text (byte 0x{byte:02x} at position {position})."


# -- output


class AnswerOutput:
    """stdout for an answer streamed in pieces."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = sys.stdout if stream is None else stream
        self.encoding = getattr(self.stream, "encoding", None) or "utf-8"
        self.utf8 = codecs.lookup(self.encoding).name == "utf-8"
        if not self.utf8 and hasattr(self.stream, "reconfigure"):
            self.stream.reconfigure(errors="replace")
        self.replaced = False
        self.at_line_start = True

    def write(self, text: str) -> None:
        if not text:
            return
        if not self.utf8 and not self.replaced:
            try:
                text.encode(self.encoding)
            except UnicodeEncodeError:
                self.replaced = True
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            raise ReaderGone() from None
        self.at_line_start = text.endswith("\n")

    def end_line(self) -> None:
        """Before a sentence on stderr: a cut-off answer and its error on separate lines."""
        if not self.at_line_start:
            self.write("\n")

    def finish(self) -> None:
        self.end_line()
        if self.replaced:
            say(
                f"some characters of the answer cannot be shown in this output's encoding "
                f"({self.encoding}) and were printed as '?'. Use a UTF-8 locale "
                "(LANG=C.UTF-8) or set PYTHONIOENCODING=utf-8."
            )


def tolerant_stdout() -> None:
    """Any other printing (doctor's marks, lists) never fails on an encoding."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        if codecs.lookup(encoding).name != "utf-8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


# -- Ctrl-C and the end of the process


class _Interrupts:
    count = 0
    at_once = False
    cancel: Callable[[], None] | None = None  # stops the running command's main task


def _on_sigint(signum: int, frame: Any) -> None:
    _Interrupts.count += 1
    if _Interrupts.at_once or _Interrupts.count > 1:
        _exit_now(INTERRUPTED, b"\nmetaai-ls: interrupted\n")
    if _Interrupts.cancel is not None:
        _Interrupts.cancel()  # as asyncio.run does: the task cleans up, then 130
        return
    raise KeyboardInterrupt


def _exit_now(code: int, note: bytes = b"") -> None:
    with contextlib.suppress(OSError):
        os.write(2, note)  # no buffered stream: the handler may have interrupted one
    os._exit(code)


def interrupt_at_once() -> None:
    """For the language server: the first Ctrl-C ends it (its reader thread never would)."""
    _Interrupts.at_once = True


def run_async(coroutine: Coroutine[Any, Any, int]) -> int:
    """asyncio.run for a command: Ctrl-C cancels it, its cleanup runs, then 130."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        _Interrupts.cancel = lambda: loop.call_soon_threadsafe(task.cancel)
        try:
            return await coroutine
        except asyncio.CancelledError:
            if _Interrupts.count:
                raise KeyboardInterrupt from None
            raise
        finally:
            _Interrupts.cancel = None

    return asyncio.run(main())


def run_command(
    command: Callable[[list[str]], int], argv: list[str], own_process: bool = False
) -> int:
    """Run one CLI command; every way it can end is an exit code, never a traceback.

    ``own_process``: the command is this process (the console script), so an interrupt
    or a closed stdout leaves at once, past the interpreter's shutdown, which would flush
    the closed pipe again and join worker threads that may be blocked (a browser's
    cookie store being read)."""
    tolerant_stdout()
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        return command(argv)
    except KeyboardInterrupt:
        say("interrupted")
        code = INTERRUPTED
    except InputError as error:
        say(error.message)
        return error.exit_code
    except (ReaderGone, BrokenPipeError):
        code = READER_GONE
    if own_process and main_thread:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    return code

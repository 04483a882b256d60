"""The language server, with the wall-clock time at which it wrote the first progress
report of each answer appended to $STAMP_FILE (for bench/vscode_chat_bench.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time


def main() -> int:
    server = subprocess.Popen(
        [sys.executable, "-m", "metaai_ls", *sys.argv[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    threading.Thread(target=_forward, args=(sys.stdin.buffer, server.stdin), daemon=True).start()
    armed = False
    with open(os.environ["STAMP_FILE"], "a") as stamps:
        while chunk := server.stdout.read1(65536):
            now = time.time()
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            if b'"kind": "begin"' in chunk:
                armed = True
            if armed and b'"kind": "report"' in chunk:
                armed = False
                stamps.write(f"{now * 1000:.1f}\n")
                stamps.flush()
    return server.wait()


def _forward(source, sink) -> None:
    while data := source.read1(65536):
        sink.write(data)
        sink.flush()
    sink.close()


if __name__ == "__main__":
    sys.exit(main())

"""The guides' own snippets, read from the READMEs so that tests run them word for word."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def readme_blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of one language in a README, in order (list indents removed)."""
    blocks: list[str] = []
    current: list[str] | None = None
    indent = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if current is None and stripped == f"```{language}":
            current, indent = [], len(line) - len(line.lstrip())
        elif current is not None and stripped == "```":
            blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line[indent:])
    return blocks


def readme_block(path: Path, language: str, containing: str) -> str:
    """The one block of ``language`` in ``path`` that holds ``containing``."""
    found = [block for block in readme_blocks(path, language) if containing in block]
    assert len(found) == 1, f"one {language} block with {containing!r} in {path}"
    return found[0]


def user_environment(home: Path, fake) -> dict[str, str]:
    """A new user's environment: only HOME (no XDG_* folders), `metaai-ls` on PATH, and the
    documented variables pointing at the fake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(fake.environment())
    env["HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env

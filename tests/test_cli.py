"""`metaai-ls ask` end to end, as a subprocess against the fake."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from metaai_ls.testing import FakeAnswer
from tests.conftest import assert_no_secret

ANSWER = "Line one 👋\nLine two: 日本語\r\nend"


async def spawn_ask(args, environment, stdin) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        "ask",
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )


async def run_ask(
    fake, cookie_file, *args: str, stdin: bytes | None = None, env=None, tmp_path=None
):
    environment = {
        **os.environ,
        **fake.environment(),
        "METAAI_COOKIES": str(cookie_file),
        "METAAI_LOG_LEVEL": "DEBUG",
        **(env or {}),
    }
    process = await spawn_ask(args, environment, asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin or b""), 30)
    return process.returncode, out.decode(), err.decode()


async def test_answer_streams_to_stdout(fake, cookie_file):
    fake.answers.append(FakeAnswer(ANSWER))
    code, out, err = await run_ask(fake, cookie_file, "say", "hi")
    assert (code, out) == (0, ANSWER + "\n")
    assert fake.sent_messages()[0].prompt == "say hi"
    assert_no_secret(out, err)


async def test_piped_stdin_becomes_context(fake, cookie_file):
    code, _, _ = await run_ask(fake, cookie_file, "review this", stdin=b"diff --git a b\n+x = 1\n")
    prompt = fake.sent_messages()[0].prompt
    assert code == 0
    assert prompt == "review this\n\n```\ndiff --git a b\n+x = 1\n```"


async def test_continue_reuses_the_last_conversation(fake, cookie_file, tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path)}
    await run_ask(fake, cookie_file, "one", env=env)
    await run_ask(fake, cookie_file, "--continue", "two", env=env)
    await run_ask(fake, cookie_file, "--new", "three", env=env)
    ids = [m.conversation_id for m in fake.sent_messages()]
    assert ids[0] == ids[1] != ids[2]


@pytest.mark.parametrize(
    ("scenario", "code", "words"),
    [
        ("unauthorized", 3, "did not accept your login"),
        ("geo", 4, "not available in your country"),
        ("rate_limited", 5, "rate limiting"),
        ("error_page", 6, "Something Went Wrong"),
        ("cut", 7, "cut off"),
    ],
)
async def test_errors_are_one_line_on_stderr_with_distinct_codes(
    fake, cookie_file, scenario, code, words
):
    fake.scenario = scenario
    returned, _, err = await run_ask(fake, cookie_file, "q", env={"METAAI_LOG_LEVEL": "WARNING"})
    assert returned == code
    assert err.startswith("metaai-ls: ") and words in err and err.count("\n") == 1
    assert "Traceback" not in err


async def test_bad_cookie_file_names_the_file(fake, tmp_path):
    bad = tmp_path / "cookies.txt"
    bad.write_bytes(b"\x00\x01")
    code, _, err = await run_ask(fake, bad, "q", "--cookies", str(bad))
    assert code == 2 and str(bad) in err and "is binary" in err and "Traceback" not in err


async def test_ctrl_c_stops_cleanly_and_closes_the_stream(fake, cookie_file):
    fake.scenario = "slow"
    fake.answers.append(FakeAnswer("word " * 200))
    environment = {**os.environ, **fake.environment(), "METAAI_COOKIES": str(cookie_file)}
    process = await spawn_ask(["q"], environment, asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(process.stdout.read(5), 20) == b"word "
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 130
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None, timeout=5)

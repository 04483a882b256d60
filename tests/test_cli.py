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


async def test_continue_reuses_the_latest_conversation(fake, cookie_file):
    await run_ask(fake, cookie_file, "one")
    await run_ask(fake, cookie_file, "--continue", "two")
    await run_ask(fake, cookie_file, "--new", "three")
    ids = [m.conversation_id for m in fake.sent_messages()]
    assert ids[0] == ids[1] != ids[2]


@pytest.mark.parametrize("door", ["account", "api"])
async def test_two_plain_asks_are_two_conversations(fake, cookie_file, tmp_path, door):
    """Issue 18 #4: a plain ask starts a new conversation, on either door."""
    key_file = tmp_path / "key"
    key_file.write_text(fake.api_key)
    flags = ["--backend", "api", "--api-key-file", str(key_file)] if door == "api" else []
    fake.answers.extend([FakeAnswer("first answer"), FakeAnswer("second answer")])
    for question in ("first question", "second question"):
        code, _, err = await run_ask(fake, cookie_file, *flags, question)
        assert code == 0, err
    first, second = fake.sent_messages()
    if door == "api":
        assert [m["role"] for m in second.fields["messages"]] == ["user"]
        assert "first" not in str(second.fields["messages"])
    else:
        assert first.conversation_id != second.conversation_id
        assert second.fields["entry_point"] == first.fields["entry_point"]  # not a follow-up
    assert "first" not in second.prompt
    code, _, _ = await run_ask(fake, cookie_file, *flags, "--continue", "third question")
    third = fake.sent_messages()[2]
    if door == "api":
        contents = [m["content"] for m in third.fields["messages"]]
        assert contents == ["second question", "second answer", "third question"]
    else:
        assert third.conversation_id == second.conversation_id


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env else None,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, out.decode(), err.decode()


async def test_an_ask_that_failed_before_any_text_leaves_no_conversation(fake, tmp_path):
    missing = tmp_path / "no-such-cookies.json"
    code, _, err = await run_ask(fake, missing, "What is a monad?")
    assert code == 2 and "no-such-cookies.json" in err
    code, out, _ = await run_cli("history")
    assert (code, out) == (0, "No conversations yet: `metaai-ls ask QUESTION` starts one.\n")


async def test_history_lists_shows_and_forgets(fake, cookie_file):
    code, out, _ = await run_cli("history")
    assert (code, out) == (0, "No conversations yet: `metaai-ls ask QUESTION` starts one.\n")
    fake.answers.extend([FakeAnswer("Answer one."), FakeAnswer("Answer two.")])
    await run_ask(fake, cookie_file, "What is a monad?")
    await run_ask(fake, cookie_file, "Another thing", stdin=b"some context\n")
    code, out, _ = await run_cli("history")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].endswith("2 turns  account  Another thing")
    assert lines[1].endswith("2 turns  account  What is a monad?")
    first_id = lines[1].split()[0]
    code, out, _ = await run_cli("history", first_id)
    assert (
        out == "# What is a monad?\n\n## You\n\nWhat is a monad?\n\n## Meta AI\n\nAnswer one.\n\n"
    )
    code, out, _ = await run_cli("history", "--forget", first_id)
    assert code == 0 and out.startswith(f"Forgot {first_id}")
    code, _, err = await run_cli("history", first_id)
    assert code == 2 and "no conversation" in err
    code, out, _ = await run_cli("history", "--forget-all")
    assert out == "Forgot 1 conversation.\n"


async def test_continue_a_named_conversation_and_an_unknown_one(fake, cookie_file):
    await run_ask(fake, cookie_file, "one")
    await run_ask(fake, cookie_file, "two")
    _, out, _ = await run_cli("history")
    older = out.splitlines()[1].split()[0]
    code, _, _ = await run_ask(fake, cookie_file, "--conversation", older, "three")
    ids = [m.conversation_id for m in fake.sent_messages()]
    assert code == 0 and ids[2] == ids[0] != ids[1]
    code, _, err = await run_ask(fake, cookie_file, "--conversation", "nope", "four")
    assert code == 2 and "no conversation 'nope'" in err and len(fake.sent_messages()) == 3


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


async def test_an_unusable_history_is_a_sentence_not_a_traceback(fake, cookie_file, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {"XDG_STATE_HOME": str(blocker)}
    code, out, err = await run_ask(fake, cookie_file, "--continue", "hello", env=env)
    assert code == 0 and out.startswith("Meta AI (offline fake)")
    assert "the history cannot be read" in err and "could not be written" in err
    assert "Traceback" not in err
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metaai_ls", "history",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )  # fmt: skip
    _, err_bytes = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2 and "cannot be used" in err_bytes.decode()
    assert "Traceback" not in err_bytes.decode()

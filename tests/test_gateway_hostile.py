"""A hostile gateway (issue 16 #9, #11, #12): activity without answer text, a trickled
home page, a redirected handshake, passwords in the configured URLs, a section index
far beyond the answer's. Each must end in a typed error (or the exact answer) in bounded
time and memory, with no secret handed over."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import tracemalloc

import pytest
from aiohttp import web
from lsprotocol import types
from pytest_lsp import client_capabilities

from metaai_ls.provider import (
    AnswerCutOffError,
    AskTimeoutError,
    ConnectionFailedError,
    MetaAIAccount,
    Revision,
)
from metaai_ls.provider.gateway_answer import GatewayAnswer
from metaai_ls.testing import FakeAnswer
from tests.conftest import assert_no_secret
from tests.lsp import settings_for, start_client, stop_client

MESSAGES = [{"role": "user", "content": "Say hello"}]
ANSWER = "Hello 👋 wörld! " * 20


async def collect(cookies, **kwargs) -> list:
    return [
        chunk
        async for chunk in MetaAIAccount.create_async_generator(
            "fast", MESSAGES, cookies=cookies, **kwargs
        )
    ]


@pytest.mark.parametrize("scenario", ["ping_flood", "unknown_flood"])
async def test_activity_without_text_after_some_text_does_not_keep_an_ask_alive(
    fake_env, cookies, scenario
):
    fake_env.scenario = scenario
    fake_env.answers.append(FakeAnswer(ANSWER))
    started = time.monotonic()
    with pytest.raises(AnswerCutOffError, match="cut off after 12 characters"):
        await collect(cookies, read_timeout=0.5)
    assert time.monotonic() - started < 10  # the fake floods for 60 s
    if scenario == "ping_flood":
        assert fake_env.pongs["gateway"] > 0  # its pings were answered meanwhile


async def test_pings_during_an_answer_are_answered_and_change_nothing(fake_env, cookies):
    fake_env.scenario = "pings"
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies)) == ANSWER
    assert fake_env.pongs["gateway"] >= len(ANSWER) // fake_env.chunk_size


async def test_a_trickled_home_page_ends_at_the_ask_deadline(fake_env, cookies, monkeypatch):
    fake_env.scenario = "trickle_home"
    fake_env.slow_interval = 0.1  # the whole page would take about 12 s
    monkeypatch.setenv("METAAI_ASK_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(AskTimeoutError, match="METAAI_ASK_TIMEOUT") as raised:
        await collect(cookies, read_timeout=3)
    assert time.monotonic() - started < 6
    assert "home page" in str(raised.value)


async def test_the_deadline_covers_a_first_text_that_never_comes(fake_env, cookies):
    fake_env.scenario = "greeting"
    fake_env.latencies["first_text"] = 5
    with pytest.raises(AskTimeoutError):
        await collect(cookies, ask_timeout=0.8, first_text_timeout=60)


@pytest.fixture
async def elsewhere():
    """Another host (another port: another origin) that records what reaches it."""
    seen: list[web.Request] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(text="nothing here")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/ws/clippy", seen
    await runner.cleanup()


async def test_a_redirected_handshake_is_not_followed_with_the_token(
    fake_env, cookies, elsewhere, caplog
):
    target, seen = elsewhere
    fake_env.scenario = "redirect"
    fake_env.redirect_to = target
    with pytest.raises(ConnectionFailedError, match="does not follow") as raised:
        await collect(cookies)
    assert seen == []  # the other host never got the token
    assert "ecto1:" not in str(raised.value) and target.rsplit("/", 2)[0] in str(raised.value)
    assert_no_secret(str(raised.value), caplog.text)


PASSWORD = "hunter2-url-password"


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://someone:{PASSWORD}@{rest}"


async def test_the_web_urls_password_never_reaches_the_gateway_as_origin(
    fake_env, cookies, monkeypatch
):
    monkeypatch.setenv("METAAI_URL", with_password(fake_env.url))
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies)) == ANSWER
    socket = next(r for r in fake_env.requests if r.path == "/ws/clippy")
    assert socket.headers["Origin"] == fake_env.url
    assert all(PASSWORD not in str(r.headers.get("Origin")) for r in fake_env.requests)


async def test_doctor_never_prints_a_url_password(fake, cookie_file, tmp_path):
    env = {
        **os.environ,
        **fake.environment(),
        "METAAI_URL": with_password(fake.url),
        "METAAI_GATEWAY_URL": with_password(fake.gateway_url),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        "doctor",
        "--cookies",
        str(cookie_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, out.decode() + err.decode()
    assert PASSWORD not in out.decode() + err.decode()
    assert f"{fake.url} answered" in out.decode()
    urls = {"url": with_password(fake.url), "gatewayUrl": with_password(fake.gateway_url)}
    options = settings_for(fake, cookie_file)
    options["metaai"].update(urls)
    client = await start_client(client_capabilities("neovim"), options, str(tmp_path))
    try:
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="metaai.doctor", arguments=[{}])
        )
    finally:
        await stop_client(client)
    assert result["ok"] is True
    assert PASSWORD not in str(result)


async def test_a_far_section_index_allocates_nothing_and_loses_no_delta(fake_env, cookies):
    fake_env.scenario = "far_section"
    fake_env.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(cookies)
    assert not any(isinstance(c, Revision) for c in chunks)
    assert "".join(chunks) == ANSWER


def test_far_and_odd_section_numbers_cost_nothing():
    answer = GatewayAnswer()
    tracemalloc.start()
    out = answer.feed({"seq": 0, "type": "full", "response": {"sections": [_section("Hel")]}})
    for seq, number in enumerate(["2000000", "²", "9" * 5000, "-1"], start=1):
        path = f"/sections/{number}/view_model/primitive/text"
        out += answer.feed(_delta(seq, path, "x" * 80))
    out += answer.feed(_delta(5, "/sections/0/view_model/primitive/text", "lo"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out == ["Hel", "lo"] and len(answer.sections) == 1
    assert peak < 1 << 20  # on b882e12's successor: 246 MB, and the "lo" was lost


def _section(text: str) -> dict:
    return {"view_model": {"primitive": {"text": text}}}


def _delta(seq: int, path: str, value: str) -> dict:
    return {
        "seq": seq,
        "type": "patch",
        "operations": [{"op": "delta", "path": path, "value": value}],
    }

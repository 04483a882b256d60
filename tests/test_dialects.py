"""What both account dialects promise alike (the gateway, today's; Abra, g4f's), each test
run against the fake speaking each: exact deltas, cancel closes the connection at once,
sessions and sockets closed on success, error and cancel."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import urllib.parse

import pytest
import pytest_asyncio

from metaai_ls.provider import (
    AnswerCutOffError,
    GeoBlockedError,
    LoginExpiredError,
    MetaAIAccount,
    MetaAIError,
    RateLimitedError,
    ResponseErrorsError,
    SomethingWentWrongError,
)
from metaai_ls.testing import FakeAnswer, FakeMetaAI
from tests.conftest import SECRET_DATR, SECRET_SESSION, assert_no_secret

ANSWER = "Hello 👋 wörld!\r\nHere is code:\n```python\nprint('日本語')\n```\nThat's all. 🎉"
MESSAGES = [{"role": "user", "content": "Say hello"}]
LOGIN = {"gateway": "ecto_1_sess", "abra": "abra_sess"}


@pytest_asyncio.fixture(params=sorted(LOGIN))
async def door(request, monkeypatch) -> tuple[FakeMetaAI, dict[str, str]]:
    """The fake speaking one dialect, the documented variables pointing at it, and cookies
    holding that dialect's login."""
    async with FakeMetaAI(dialect=request.param) as fake:
        for name, value in fake.environment().items():
            monkeypatch.setenv(name, value)
        yield fake, {LOGIN[request.param]: SECRET_SESSION, "datr": SECRET_DATR}


async def collect(cookies) -> list:
    return [
        c async for c in MetaAIAccount.create_async_generator("fast", MESSAGES, cookies=cookies)
    ]


async def test_deltas_join_to_the_exact_answer(door):
    fake, cookies = door
    fake.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(cookies)
    assert all(isinstance(c, str) and c for c in chunks)
    assert "".join(chunks) == ANSWER
    assert len(chunks) == len(range(0, len(ANSWER), fake.chunk_size))


async def test_cancel_mid_stream_closes_the_connection_at_once(door):
    fake, cookies = door
    fake.scenario = "slow"
    fake.answers.append(FakeAnswer("x" * 600))
    first = asyncio.Event()

    async def consume():
        async for _ in MetaAIAccount.create_async_generator("fast", MESSAGES, cookies=cookies):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    cancelled = time.monotonic()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    record = await fake.wait_for_stream(lambda r: r.client_gone_at is not None, timeout=2)
    assert not record.finished and record.client_gone_at - cancelled < 1.0


async def test_sessions_and_sockets_are_closed_on_success_error_and_cancel(door, recwarn):
    fake, cookies = door
    await collect(cookies)
    fake.scenario = "cut"
    with pytest.raises(AnswerCutOffError):
        await collect(cookies)
    fake.scenario = "slow"
    task = asyncio.create_task(collect(cookies))
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    gc.collect()
    await asyncio.sleep(0)
    assert not [w for w in recwarn if "Unclosed" in str(w.message)]


@pytest.mark.parametrize(
    ("scenario", "error", "words"),
    [
        ("error_page", SomethingWentWrongError, "Something Went Wrong"),
        ("errors_line", ResponseErrorsError, "field_exception"),
        ("unauthorized", LoginExpiredError, "HTTP 401"),
        ("forbidden", LoginExpiredError, "HTTP 403"),
        ("rate_limited", RateLimitedError, "after 30 seconds"),
        ("geo", GeoBlockedError, "not available in your country"),
        ("cut", AnswerCutOffError, "cut off after"),
        ("reset", AnswerCutOffError, "cut off after"),
    ],
)
async def test_each_failure_has_its_own_error_and_a_sentence(door, scenario, error, words, caplog):
    fake, cookies = door
    fake.scenario = scenario
    with pytest.raises(error) as raised:
        await collect(cookies)
    assert isinstance(raised.value, MetaAIError)
    assert words in str(raised.value)
    assert_no_secret(str(raised.value), caplog.text)


async def test_an_error_echoing_the_request_holds_no_secret(door):
    fake, cookies = door
    fake.scenario = "leaky_error"
    with pytest.raises(ResponseErrorsError) as raised:
        await collect(cookies)
    message = raised.value.message
    assert "Invalid request (Cookie: " in message and message == str(raised.value)
    tokens = [form for t in fake.tokens for form in (t, urllib.parse.quote(t, safe=""))]
    for secret in (SECRET_SESSION, SECRET_DATR, *tokens):
        assert secret not in message

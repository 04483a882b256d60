"""The fake's Meta Model API (``/v1``): streamed chat completions as server-sent events,
the model list, a refused key, the rate limit, an unknown model and a cut stream."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .texts import deep_json, js_json, pieces

if TYPE_CHECKING:
    from .fake_meta import FakeMetaAI, RecordedRequest


def _error(status: int, message: str, **extra: Any) -> web.Response:
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    body = {"error": {"message": message, "type": "invalid_request_error", **extra}}
    return web.json_response(body, status=status, headers=headers)


def _refusal(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response | None:
    if fake.scenario == "bad_key" or recorded.headers.get("Authorization") != (
        f"Bearer {fake.api_key}"
    ):
        return _error(401, "Invalid API key")
    return None


def models(fake: FakeMetaAI, recorded: RecordedRequest) -> web.Response:
    if (refusal := _refusal(fake, recorded)) is not None:
        return refusal
    data = [{"id": name, "object": "model", "owned_by": "meta"} for name in fake.api_models]
    return web.json_response({"object": "list", "data": data})


async def chat(
    fake: FakeMetaAI, request: web.Request, recorded: RecordedRequest
) -> web.StreamResponse:
    from .fake_meta import SentMessage, StreamRecord

    if (refusal := _refusal(fake, recorded)) is not None:
        return refusal
    body = recorded.json if isinstance(recorded.json, dict) else {}
    messages = body.get("messages") or []
    prompt = str(messages[-1].get("content", "")) if messages else ""
    fake.messages.append(SentMessage("api", prompt, None, body))
    if body.get("model") not in fake.api_models:
        return _error(400, f"The model `{body.get('model')}` does not exist")
    answer, scenario = fake.choose(prompt)
    if scenario == "rate_limited":
        return _error(429, "Rate limit reached for requests", retry_after=30)
    if scenario == "leaky_error":
        key = recorded.headers.get("Authorization", "").removeprefix("Bearer ")
        return _error(400, f"Unsupported parameter for the key {key} ({key[:4]}...)")
    record = StreamRecord("", scenario, time.monotonic())
    await fake.add_stream(record)
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    try:
        await response.write(b": keep-alive\n\n")
        await _answer(fake, request, response, answer.text, scenario, record)
        await response.write_eof()
    except asyncio.CancelledError:  # the client went away (handler cancellation)
        record.client_gone_at = time.monotonic()
        await fake.notify()
        raise
    except ConnectionResetError:
        record.client_gone_at = time.monotonic()
    await fake.notify()
    return response


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _data({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [choice]})


def _data(event: dict[str, Any]) -> bytes:
    return b"data: " + js_json(event) + b"\n\n"


async def _keep_alive_flood(response: web.StreamResponse) -> None:
    """After some text, only keep-alive comments and empty deltas, for a minute."""
    for _ in range(int(60 / 0.05)):
        await response.write(b": keep-alive\n\n" + _chunk({"content": ""}))
        await asyncio.sleep(0.05)


async def _answer(
    fake: FakeMetaAI,
    request: web.Request,
    response: web.StreamResponse,
    text: str,
    scenario: str,
    record: Any,
) -> None:
    """The events of one answer as the cookbook describes them: the role first, content
    deltas, a last chunk with ``content: null`` and the finish reason, a usage chunk with
    no choices, then ``[DONE]``."""
    if scenario == "length":  # the whole output budget went to reasoning
        await response.write(_chunk({"role": "assistant", "content": None}))
        await response.write(_chunk({"content": None}, "length") + b"data: [DONE]\n\n")
        record.finished = True
        return
    if scenario == "endless":
        piece = (text + " ") * (1024 // (len(text) + 1) + 1)
        while True:
            await response.write(_chunk({"content": piece}))
            await fake.pace(scenario)
            await asyncio.sleep(0)
    chunks = pieces(text, fake.chunk_size, scenario == "utf16")
    if scenario in ("cut", "reset", "length_after_text"):
        chunks = chunks[: max(1, len(chunks) // 2)]
    for index, chunk in enumerate(chunks):
        delta = {"role": "assistant", "content": chunk} if index == 0 else {"content": chunk}
        record.first_line_at = record.first_line_at or time.monotonic()
        await response.write(_chunk(delta))
        if scenario == "ping_flood" and index == 1:
            await _keep_alive_flood(response)
            return
        if scenario == "deep" and index == len(chunks) // 2:
            await response.write(b"data: " + deep_json() + b"\n\n")
        await fake.pace(scenario)
    if scenario == "reset":
        request.transport.close()
        return
    if scenario == "cut":
        return
    if scenario == "length_after_text":
        await response.write(_chunk({"content": None}, "length") + b"data: [DONE]\n\n")
        record.finished = True
        return
    usage = {"prompt_tokens": 9, "completion_tokens": len(chunks), "total_tokens": 9 + len(chunks)}
    await response.write(_chunk({"content": None}, "stop"))
    await response.write(_data({"id": "chatcmpl-fake", "choices": [], "usage": usage}))
    await response.write(b"data: [DONE]\n\n")
    record.finished = True

"""The fake's Meta Model API (``/v1``): streamed chat completions as server-sent events,
the model list, a refused key, the rate limit, an unknown model and a cut stream."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

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
    from .fake_meta import SentMessage, StreamRecord, pieces

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
    chunks = pieces(answer.text, fake.chunk_size)
    if scenario in ("cut", "reset"):
        chunks = chunks[: max(1, len(chunks) // 2)]
    try:
        await response.write(b": keep-alive\n\n")
        for index, chunk in enumerate(chunks):
            event = {"id": "chatcmpl-fake", "choices": [{"index": 0, "delta": {"content": chunk}}]}
            if index == 0:
                event["choices"][0]["delta"]["role"] = "assistant"
            record.first_line_at = record.first_line_at or time.monotonic()
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            await fake.pace(scenario)
        if scenario == "reset":
            request.transport.close()
            return response
        if scenario != "cut":
            stop = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            await response.write(b"data: " + json.dumps(stop).encode() + b"\n\ndata: [DONE]\n\n")
        await response.write_eof()
        record.finished = True
    except ConnectionResetError:
        record.client_gone_at = time.monotonic()
    await fake.notify()
    return response

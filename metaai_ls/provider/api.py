"""The official Meta Model API (API key): OpenAI-compatible ``/chat/completions`` with
server-sent events, and ``GET /models``. Same transport, deltas and errors as the account.

The API is stateless: with a ``Conversation`` the provider sends the earlier turns again
and records the new one. Every request names an output cap (``max_tokens``); an answer
that stops there (``finish_reason: "length"``) is an error, never a short answer.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from metaai_ls.redact import remember

from . import decode
from . import identifiers as ids
from .conversation import Conversation
from .errors import (
    AnswerCutOffError,
    AnswerTooLongError,
    ApiKeyError,
    ConfigError,
    OutputLimitError,
    RateLimitedError,
    UnexpectedResponseError,
    error_from_text,
    meta_text,
)
from .files import read_small_file
from .prompt import Messages
from .transport import (
    MAX_ERROR_BYTES,
    MAX_JSON_BYTES,
    Timeouts,
    Transport,
    TransportClient,
    line_limit,
    lines,
    max_answer_chars,
    read_text,
)

logger = logging.getLogger(__name__)

# Meta's own name first, then ours, then the names other tools read (protocol page §4).
KEY_VARIABLES = ("MODEL_API_KEY", "METAAI_API_KEY", "META_API_KEY", "META_MODEL_API_KEY")
OPTIONS = (
    "api_url",
    "connect_timeout",
    "read_timeout",
    "first_text_timeout",
    "identifiers",
    "max_answer_mb",
    "ask_timeout",
)


def api_key_from(key_file: str | None = None) -> tuple[str, str]:
    """The key and where it came from (a file's path or a variable's name, never the key)."""
    if key_file:
        path = os.path.expanduser(key_file)
        data = read_small_file(path, 64 << 10, "The API key file")
        key = data.decode("utf-8", "replace").strip()
        if not key:
            raise ApiKeyError(f"The API key file {path} is empty.")
        remember(key)
        return key, path
    for name in KEY_VARIABLES:
        if key := os.environ.get(name, "").strip():
            remember(key)
            return key, name
    raise ApiKeyError()


class MetaModelAPI(TransportClient):
    label = "Meta Model API"
    working = True
    needs_auth = True
    supports_stream = True
    default_model: ClassVar[str] = "muse-spark-1.3"  # identifiers.json: api.default_model

    def __init__(
        self,
        proxy: str | None = None,
        *,
        api_key: str,
        api_url: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        first_text_timeout: float | None = None,
        identifiers: Mapping[str, Any] | None = None,
        max_answer_mb: float | None = None,
        ask_timeout: float | None = None,
    ) -> None:
        remember(api_key)
        self.ids = ids.load_identifiers(identifiers)
        self.api = self.ids["api"]
        self.api_url = (api_url or ids.api_url()).rstrip("/")
        _check_api_url(self.api_url)
        headers = {"authorization": f"Bearer {api_key}", "accept": "text/event-stream"}
        self.transport = Transport(
            proxy,
            Timeouts(connect_timeout, read_timeout, first_text_timeout, ask_timeout),
            headers,
            self.api_url,
            max_answer_chars(max_answer_mb),
        )

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str]:
        key = api_key or api_key_from()[0]
        conversation: Conversation | None = kwargs.get("conversation")
        options = {name: kwargs[name] for name in OPTIONS if kwargs.get(name) is not None}
        async with cls(proxy, api_key=key, **options) as client:
            model = client.model_name(model)
            sent = _with_history(messages, conversation)
            parts: list[str] = []
            async for delta in client.chat(model, sent):
                parts.append(delta)
                yield delta
        if conversation is not None:
            conversation.history += [dict(m) for m in messages if m["role"] != "system"]
            conversation.history.append({"role": "assistant", "content": "".join(parts)})
            conversation.turns += 1

    def model_name(self, model: str | None) -> str:
        if not model or model in ("default", "fast", "meta-ai"):
            return self.api["default_model"]
        return model

    async def chat(self, model: str, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        url = self.api_url + self.api["chat_path"]
        max_tokens = int(self.api["max_tokens"])
        body = {"model": model, "messages": messages, "stream": True, "max_tokens": max_tokens}
        limit = self.transport.max_answer
        received = 0
        done = False
        finish: str | None = None
        halves = decode.Joiner()  # a delta may end inside a surrogate pair
        with self.transport.errors("while the Meta Model API was answering", lambda: received):
            async with self.transport.session.post(
                url,
                json=body,
                proxy=self.transport.http_proxy,
                timeout=self.transport.request_timeout(),  # the whole ask's deadline
            ) as response:
                if response.status >= 400:
                    await self._raise_for(response, model)
                events = lines(response.content, line_limit(limit), "the Meta Model API's answer")
                text_by = float("inf")  # once text began: when the next must have come
                async for line in events:
                    data = line[5:].strip() if line.startswith(b"data:") else b""
                    if data == b"[DONE]":
                        done = True
                        break
                    content, finish = _choice(data, finish) if data else ("", finish)
                    if content and (delta := halves.feed(content)):
                        received += len(delta)
                        if received > limit:
                            raise AnswerTooLongError(limit)
                        text_by = time.monotonic() + self.transport.timeouts.read
                        yield delta
                    elif time.monotonic() > text_by:
                        # Keep-alives and empty events after some text are not progress.
                        raise AnswerCutOffError(received)
        if finish == "length":
            raise OutputLimitError(received, max_tokens)
        if not done:
            raise AnswerCutOffError(received)
        if rest := halves.finish():
            yield rest

    async def list_models(self) -> list[str]:
        url = self.api_url + self.api["models_path"]
        with self.transport.errors("listing the Meta Model API's models"):
            async with self.transport.session.get(
                url, headers={"accept": "application/json"}, proxy=self.transport.http_proxy
            ) as response:
                if response.status >= 400:
                    await self._raise_for(response, None)
                text = await read_text(response, MAX_JSON_BYTES, "the list of models")
        try:
            return sorted(str(m["id"]) for m in decode.loads(text)["data"])
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponseError("GET /models is not a list of models") from None

    async def _raise_for(self, response: Any, model: str | None) -> None:
        status = response.status
        error = _error_object(await read_text(response, MAX_ERROR_BYTES, "the error answer"))
        message = str(error.get("message") or error.get("code") or "")
        if status in (401, 403):
            raise ApiKeyError(f"The Meta Model API refused the API key (HTTP {status}).")
        if status == 429:
            wait = response.headers.get("retry-after") or error.get("retry_after")
            raise RateLimitedError(None if wait is None else str(wait), "this API key")
        if status == 400 and "max_tokens" in message:
            raise ConfigError(
                f"The Meta Model API refused the output cap max_tokens={self.api['max_tokens']} "
                f"({meta_text(message, 200)}). Set a smaller one in the file METAAI_IDENTIFIERS "
                'names: {"api": {"max_tokens": 8192}}.'
            )
        if status in (400, 404) and model is not None and "model" in message.lower():
            raise ConfigError(await self._unknown_model(model))
        raise UnexpectedResponseError(
            f"HTTP {status}: {meta_text(message, 200)}" if message else f"HTTP {status}"
        )

    async def _unknown_model(self, model: str) -> str:
        try:
            offered = ", ".join(await self.list_models())
        except Exception as error:  # the list is a courtesy; the error stands without it
            logger.info("could not list the models: %s", type(error).__name__)
            offered = "see `metaai-ls models`"
        return f"The Meta Model API has no model {model!r}; it offers {offered}. Set `model`."


def _check_api_url(url: str) -> None:
    """The key goes in the Authorization header; a user or password in the URL would be a
    second authorization (aiohttp refuses the request)."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise ConfigError(f"The Meta Model API URL {url!r} is not a URL.") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "The Meta Model API URL (METAAI_API_URL, the `apiUrl` setting or `--api-url`) holds "
            "a user name or password; the API takes only its key. Remove `user:password@` "
            "from the URL."
        )


def _with_history(messages: Messages, conversation: Conversation | None) -> list[dict[str, Any]]:
    if conversation is None or not conversation.history:
        return [dict(m) for m in messages]
    system = [dict(m) for m in messages if m["role"] == "system"]
    rest = [dict(m) for m in messages if m["role"] != "system"]
    return system + list(conversation.history) + rest


def _choice(data: bytes, finish: str | None) -> tuple[str, str | None]:
    """One event's text (often "") and the finish reason so far. A usage event has no
    choices; the last content chunk may carry ``content: null``."""
    try:
        event = decode.loads(data)
    except ValueError:
        logger.debug("skipped a line of the event stream that is not JSON")
        return "", finish
    if not isinstance(event, dict):
        return "", finish
    if error := event.get("error"):
        message = error.get("message") if isinstance(error, dict) else error
        raise error_from_text(str(message))
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", finish
    choice = choices[0]
    if isinstance(reason := choice.get("finish_reason"), str):
        finish = reason
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return (content if isinstance(content, str) else ""), finish


def _error_object(text: str) -> dict[str, Any]:
    """The ``error`` object of an error answer (``{}`` when there is none)."""
    try:
        error = decode.loads(text).get("error")
    except (ValueError, AttributeError):
        return {}
    if isinstance(error, dict):
        return error
    return {"message": str(error)} if error else {}

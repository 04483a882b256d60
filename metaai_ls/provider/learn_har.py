"""Reading a browser capture (a HAR file, Chrome's format: ``metaai-protocol.md`` §5) for
``metaai-ls learn``: the pages, the GraphQL calls and the gateway's sockets with their
frames. Every secret in it (cookies, Authorization headers, the token in the WebSocket
URL) is registered with ``redact.remember`` as it is read."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import urllib.parse
from typing import Any

from metaai_ls.redact import remember

from . import frames
from .errors import MetaAIError
from .files import read_small_file

MAX_CAPTURE_BYTES = 256 << 20
SECRET_HEADERS = ("cookie", "set-cookie", "authorization", "x-fb-lsd", "x-csrf-token")
MIN_TOKEN_LENGTH = 100  # query values this long are tokens (~320), never kept; a hash is 64


class LearnError(MetaAIError):
    """A capture that cannot be read or does not hold what learning needs."""

    exit_code = 2


@dataclasses.dataclass
class Frame:
    sent: bool
    time: float  # seconds since the epoch
    data: bytes


@dataclasses.dataclass
class Socket:
    url: str  # without its query
    query: list[tuple[str, str]]
    user_agent: str
    frames: list[Frame]


@dataclasses.dataclass
class Capture:
    pages: list[str]  # the bodies of the HTML documents
    graphql: list[tuple[str, dict[str, Any]]]  # (URL path, JSON body) of calls with a doc_id
    sockets: list[Socket]  # WebSockets with messages
    silent_sockets: int  # WebSockets recorded without messages (Firefox)
    hosts: set[str]
    user_agent: str  # of the home page's request


def read_capture(path: str) -> Capture:
    text = read_small_file(path, MAX_CAPTURE_BYTES, "The capture", _file_error).decode(
        "utf-8", "replace"
    )  # the bytes are gone once decoded: at most twice the file is held here
    try:
        har = json.loads(text, object_hook=_without_bodies)
    except RecursionError:
        raise LearnError(f"The capture {path} is not a HAR file (nested too deep).") from None
    except ValueError as error:
        raise LearnError(f"The capture {path} is not a HAR file (not JSON: {error}).") from None
    del text
    entries = har.get("log", {}).get("entries") if isinstance(har, dict) else None
    if not isinstance(entries, list):
        raise LearnError(
            f"The capture {path} is not a HAR file (no log.entries): save it with the devtools' "
            "Network panel, Export HAR."
        )
    capture = Capture([], [], [], 0, set(), "")
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("request"), dict):
            _read_entry(capture, entry)
    return capture


def _file_error(sentence: str) -> LearnError:
    if "larger than" in sentence:
        sentence += " Clear the Network panel (🚫), then capture only the new chat."
    return LearnError(sentence)


def _without_bodies(item: dict[str, Any]) -> dict[str, Any]:
    """A response's content without its text unless it is a page: dropped while parsing,
    so that scripts and images never pile up (a capture is mostly those)."""
    if "size" in item and "mimeType" in item and "html" not in str(item["mimeType"]):
        item.pop("text", None)
    return item


def _read_entry(capture: Capture, entry: dict[str, Any]) -> None:
    request, response = entry["request"], entry.get("response") or {}
    _remember_secrets(request)
    _remember_secrets(response)
    url = str(request.get("url", ""))
    parts = urllib.parse.urlsplit(url)
    capture.hosts.add(parts.hostname or "")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    for _, value in query:
        if len(value) >= MIN_TOKEN_LENGTH:
            remember(value)
    headers = _headers(request)
    messages = entry.get("_webSocketMessages")
    if entry.get("_resourceType") == "websocket" or response.get("status") == 101:
        if not messages:
            capture.silent_sockets += 1
            return
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        socket_frames = [f for f in map(_frame, messages) if f is not None]
        capture.sockets.append(Socket(base, query, headers.get("user-agent", ""), socket_frames))
        return
    content = response.get("content") or {}
    if _is_page(entry, content):
        capture.pages.append(_text(content))
        capture.user_agent = capture.user_agent or headers.get("user-agent", "")
    elif request.get("method") == "POST" and (body := _json_body(request)) is not None:
        capture.graphql.append((parts.path, body))


def _headers(side: dict[str, Any]) -> dict[str, str]:
    pairs = side.get("headers") or []
    return {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in pairs
        if isinstance(h, dict)
    }


def _remember_secrets(side: dict[str, Any]) -> None:
    for name, value in _headers(side).items():
        if name in SECRET_HEADERS:
            remember(value)
            for part in value.replace(",", ";").split(";"):
                remember(part.partition("=")[2].strip())
    for cookie in side.get("cookies") or []:
        if isinstance(cookie, dict):
            remember(str(cookie.get("value", "")))


def _is_page(entry: dict[str, Any], content: dict[str, Any]) -> bool:
    return entry.get("_resourceType") == "document" or "html" in str(content.get("mimeType", ""))


def _text(content: dict[str, Any]) -> str:
    text = content.get("text")
    if not isinstance(text, str):
        return ""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
    return text


def _json_body(request: dict[str, Any]) -> dict[str, Any] | None:
    text = (request.get("postData") or {}).get("text")
    if not isinstance(text, str) or "doc_id" not in text:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        form = dict(urllib.parse.parse_qsl(text))  # form-encoded (the Abra dialect's)
        body = {k: form[k] for k in ("doc_id", "variables") if k in form}
    if isinstance(body.get("variables"), str):
        try:
            body["variables"] = json.loads(body["variables"])
        except ValueError:
            return None
    return body if isinstance(body, dict) and body.get("doc_id") else None


def _frame(message: Any) -> Frame | None:
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        return None
    data = message["data"]
    if message.get("opcode") == 2:
        try:
            raw = base64.b64decode(data)
        except (binascii.Error, ValueError):
            return None
    else:
        raw = data.encode("utf-8")
    try:
        when = float(message.get("time") or 0.0)
    except (TypeError, ValueError):
        when = 0.0
    return Frame(message.get("type") == "send", when, raw)


def open_payload(frame: Frame) -> dict[str, Any] | None:
    """The JSON of a sent open frame (type 15), else None."""
    if not frame.sent or frame.data[:1] != bytes([frames.OPEN]):
        return None
    event = frames.event_of(frame.data[frames.HEADER :])
    return event if isinstance(event, dict) else None


def data_body(frame: Frame) -> dict[str, Any] | None:
    """The JSON of a sent data frame (type 13), else None."""
    if not frame.sent or frame.data[:1] != bytes([frames.DATA]):
        return None
    found = next(iter(frames.read_frames(frame.data)), None)
    return frames.event_of(found.body) if found is not None else None

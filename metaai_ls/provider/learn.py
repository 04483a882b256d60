"""`metaai-ls learn CAPTURE.har`: what Meta's current web client sends, learnt from a
browser capture of one new chat, written as the values that differ from the built-in ones
to the learned layer (``identifiers.learned_path()``). Keeps no secret: cookies and tokens
are registered with ``redact.remember`` as they are read and never written or shown."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from metaai_ls.redact import redact, remember

from . import protowire
from .errors import LEARN_STEPS
from .identifiers import DEFAULT_GATEWAY_URL, defaults, learned_path
from .learn_har import Capture, LearnError, Socket, data_body, open_payload, read_capture
from .learn_message import UUID, Turn, decode_rows, template, turn_fields

DEFAULT_QUESTION = "metaai-ls learn"
PREFIX_CHARS = 48  # of the page before the token, for its pattern
DELIMITERS = set(",;{}()[]<> \t\r\n")
TOKEN_TAIL = r"[^\\\"'\s<>&,;)}\]]+"
GATEWAY_KEYS = (
    "app_id",
    "actor_id",
    "account_id",
    "platform",
    "build_hash",
    "locale",
    "entry_point_new",
    "entry_point_follow_up",
    "branch_path_new",
    "branch_path_follow_up",
)


@dataclasses.dataclass
class Learned:
    values: dict[str, Any]  # what differs from the built-in values, as identifiers.json
    changed: list[tuple[str, str]]  # (name, what it is now), for the table
    missing: list[str]  # what could not be learnt
    turns: int


@dataclasses.dataclass
class _Chat:
    socket: Socket
    conversation_id: str
    open: dict[str, Any]
    turns: list[Turn]
    messages: list[bytes]


def learn(path: str, question: str = DEFAULT_QUESTION) -> Learned:
    capture = read_capture(path)
    chat = _find_chat(capture, question.strip(), path)
    found: dict[str, Any] = {"web": {}, "gateway": {}}
    missing: list[str] = []
    base = defaults()
    token = _learn_query(chat, capture.pages, base, found)
    _learn_page(capture, token, base, found, missing)
    _learn_graphql(capture, chat, found, missing)
    _learn_message(chat, base, found, missing)
    _learn_user_agent(capture, chat, found)
    values, changed = _differences(found, base)
    return Learned(values, changed, missing, len(chat.turns))


# -- the chat of the question


def _find_chat(capture: Capture, question: str, path: str) -> _Chat:
    chats = [c for s in capture.sockets for c in _chats(s, question)]
    if not chats:
        raise _no_gateway(capture, path)
    chats = _merged(chats)
    if not any(c.turns for c in chats):
        raise LearnError(
            f"The capture {path} holds the gateway's connection but no message sent on it: "
            "send the message, wait for the answer, then export the HAR."
        )
    asked = [c for c in chats if c.turns and c.turns[0].prompt.strip() == question]
    if len(asked) > 1:
        raise LearnError(
            f"The capture {path} holds {len(asked)} chats whose first message is {question!r}: "
            "export a capture of one (clear the Network panel, start a new chat, send it)."
        )
    if not asked:
        later = any(question in _strings(m) for c in chats for m in c.messages[1:])
        what = (
            f"The message {question!r} was sent as a follow-up, not as the first message of a "
            f"new chat ({path})"
            if later
            else f"No message in the capture {path} is {question!r}"
        )
        raise LearnError(
            f"{what}: start a new chat, send exactly {question!r} (or name your message with "
            "--question), then export the HAR."
        )
    _require_new_chat(capture, asked[0], question, path)
    return asked[0]


def _require_new_chat(capture: Capture, chat: _Chat, question: str, path: str) -> None:
    """A first message sent in an earlier chat carries the follow-up's values."""
    gw = defaults()["gateway"]
    where = next((str(p) for p, _, v in gw["message"] if v == "{entry_point}"), "")
    entry = next((v for p, _, v in chat.turns[0].rows if p == where), None)
    started = any(chat.conversation_id in json.dumps(body) for _, body in capture.graphql)
    if entry == gw["entry_point_follow_up"] and not started:
        raise LearnError(
            f"The message {question!r} was sent in an earlier chat, not as the first message of "
            f"a new chat ({path}): start a new chat, send it, then export the HAR."
        )


def _no_gateway(capture: Capture, path: str) -> LearnError:
    if capture.silent_sockets:
        return LearnError(
            f"The capture {path} holds no WebSocket messages (Firefox saves none): capture the "
            "chat in Chrome, Edge or Brave."
        )
    hosts = sorted(h for h in capture.hosts if h)
    if not any(h == "meta.ai" or h.endswith(".meta.ai") for h in hosts):
        shown = ", ".join(hosts[:3]) or "no site"
        return LearnError(
            f"The capture {path} is of {shown}, not of meta.ai: capture a chat at "
            "https://www.meta.ai."
        )
    return LearnError(
        f"The capture {path} holds no connection to Meta AI's gateway: open the Network panel "
        "before you start the new chat, then send the message."
    )


def _chats(socket: Socket, question: str) -> list[_Chat]:
    chats: list[_Chat] = []
    for frame in socket.frames:
        if (payload := open_payload(frame)) is not None:
            conversation = _conversation_id(payload)
            if conversation:
                chats.append(_Chat(socket, conversation, payload, [], []))
        elif chats and (body := data_body(frame)) is not None:
            _add_turn(chats[-1], body, frame.time, question)
    return chats


def _conversation_id(payload: dict[str, Any]) -> str | None:
    ids = [(k, v) for k, v in payload.items() if isinstance(v, str) and UUID.match(v)]
    ids.sort(key=lambda item: "conversation" not in item[0].lower())
    return ids[0][1] if ids else None


def _add_turn(chat: _Chat, body: dict[str, Any], when: float, question: str) -> None:
    request_id = next((v for v in body.values() if isinstance(v, str) and UUID.match(v)), "")
    message = _payload(body)
    if message is None:
        return
    strings = frozenset(filter(None, (question.encode(), chat.conversation_id.encode())))
    rows = decode_rows(message, strings)
    first = chat.turns[0] if chat.turns else None
    prompt = _prompt_of(rows, question, first)
    chat.turns.append(Turn(rows, chat.conversation_id, request_id, prompt, int(when * 1000)))
    chat.messages.append(message)


def _payload(body: dict[str, Any]) -> bytes | None:
    for value in body.values():
        if isinstance(value, str) and len(value) > 8:
            try:
                data = base64.b64decode(value, validate=True)
                protowire.parse(data)
                return data
            except (binascii.Error, protowire.WireError, ValueError):
                continue
    return None


def _prompt_of(rows: list[list[Any]], question: str, first: Turn | None) -> str:
    flat = {path: value for path, kind, value in rows if kind == "string"}
    if first is not None:  # a follow-up: its text is where the first turn's question was
        where = next((p for p, k, v in first.rows if k == "string" and v == first.prompt), None)
        return str(flat.get(where, "")) if where else ""
    return next((str(v) for v in flat.values() if str(v).strip() == question), "")


def _strings(message: bytes) -> set[str]:
    return {str(v) for _, k, v in decode_rows(message) if k == "string"}


def _merged(chats: list[_Chat]) -> list[_Chat]:
    """One chat per conversation: a follow-up may come on a new socket."""
    merged: dict[str, _Chat] = {}
    for chat in chats:
        if chat.conversation_id in merged:
            merged[chat.conversation_id].turns += chat.turns
            merged[chat.conversation_id].messages += chat.messages
        else:
            merged[chat.conversation_id] = chat
    return list(merged.values())


# -- what is learnt


def _learn_query(chat: _Chat, pages: list[str], base: dict[str, Any], found: dict[str, Any]) -> str:
    """The handshake's query as a template; returns the access token it carries."""
    pairs = chat.socket.query
    app_param = next((k for k, v in base["gateway"]["query"].items() if v == "{app_id}"), "")
    token = _token_value(pairs, pages)
    remember(token)
    query: dict[str, str] = {}
    for name, value in pairs:
        if value == token:
            query[name] = "{access_token}"
        elif UUID.match(value):
            query[name] = "{request_id}"
        elif name == app_param:
            query[name] = "{app_id}"
            found["gateway"]["app_id"] = value
        else:
            query[name] = value
    found["gateway"]["query"] = query
    found["gateway"]["open_payload"] = {
        k: "{conversation_id}" if v == chat.conversation_id else v for k, v in chat.open.items()
    }
    url = chat.socket.url
    if url != DEFAULT_GATEWAY_URL and _public_wss(url):
        found["gateway"]["url"] = url
    return token


def _token_value(pairs: list[tuple[str, str]], pages: list[str]) -> str:
    """The longest value the home page handed out (an app id may be there too), else an
    ``ecto1:`` one, else the longest."""
    values = sorted((v for _, v in pairs if not UUID.match(v)), key=len, reverse=True)
    given = [v for v in values if len(v) >= 16 and any(v in page for page in pages)]
    tokens = given or [v for v in values if v.startswith("ecto1:")] or values
    return tokens[0] if tokens else ""


def _public_wss(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    return url.startswith("wss://") and not local


def _learn_page(
    capture: Capture, token: str, base: dict[str, Any], found: dict[str, Any], missing: list[str]
) -> None:
    page = next((p for p in capture.pages if token and token in p), None)
    if page is None:
        missing.append(
            "how the home page embeds the access token (no page in the capture holds the "
            "gateway's token: reload https://www.meta.ai with the Network panel open)"
        )
        return
    builtin = re.search(base["web"]["access_token_pattern"], page)
    if builtin and builtin.group(1) == token:
        return
    pattern = _token_pattern(page, token)
    if pattern is None:
        missing.append("how the home page embeds the access token (no pattern finds it)")
    else:
        found["web"]["access_token_pattern"] = pattern


def _token_pattern(page: str, token: str) -> str | None:
    start = page.index(token)
    before = page[max(0, start - PREFIX_CHARS) : start]
    cut = max((i for i, ch in enumerate(before) if ch in DELIMITERS), default=-1)
    prefix = before[cut + 1 :]
    if len(prefix) < 4:
        prefix = before[max(0, cut - 12) :]  # a short anchor: take the delimiter and more
    scheme = token[: token.index(":") + 1] if ":" in token[:12] else ""
    pattern = re.escape(prefix) + "(" + re.escape(scheme) + TOKEN_TAIL + ")"
    match = re.search(pattern, page)
    if match is None or match.group(1) != token or redact(pattern) != pattern:
        return None
    return pattern


def _learn_graphql(
    capture: Capture, chat: _Chat, found: dict[str, Any], missing: list[str]
) -> None:
    conversation = chat.conversation_id
    for path, body in capture.graphql:
        variables = body.get("variables") if isinstance(body.get("variables"), dict) else {}
        inner = variables.get("input") if isinstance(variables.get("input"), dict) else {}
        if variables == {"conversationId": conversation}:
            found["gateway"]["warmup_doc_id"] = str(body["doc_id"])
        elif inner.get("conversationId") == conversation and "mode" in inner:
            found["gateway"]["mode_doc_id"] = str(body["doc_id"])
        else:
            continue
        found["web"]["graphql_path"] = path
    if "warmup_doc_id" in found["gateway"] or "mode_doc_id" in found["gateway"]:
        return
    if capture.pages:  # the whole new chat is there: today's client sends neither call
        found["gateway"]["setup_graphql"] = False
    else:
        missing.append("the GraphQL warm-up and mode calls (the capture starts after them)")


def _learn_message(
    chat: _Chat, base: dict[str, Any], found: dict[str, Any], missing: list[str]
) -> None:
    gw, first = base["gateway"], chat.turns[0]
    follow_up = chat.turns[1] if len(chat.turns) > 1 else None
    app_id = found["gateway"].get("app_id", gw["app_id"])
    models = base["models"].values()
    known = {
        "user_agent": base["user_agent"],
        "mode_names": {m["mode_name"] for m in models},
        "entry_points": {gw["entry_point_new"], gw["entry_point_follow_up"]},
    }
    learnt = template(first, gw["message"], app_id, known, follow_up)
    if protowire.build(first.rows, {}) != chat.messages[0]:  # a shape the rows cannot give
        found["gateway"]["prompt_message_base64"] = base64.b64encode(chat.messages[0]).decode()
    found["gateway"]["message"] = learnt.rows
    found["gateway"]["turn_fields"] = turn_fields(learnt.rows)
    for name, value in learnt.learnt.items():
        if name == "user_agent":
            found["user_agent"] = value
        elif name in GATEWAY_KEYS:
            found["gateway"][name] = str(value) if isinstance(gw[name], str) else value
    if follow_up is None:
        missing.append("a follow-up's entry point and branch path (the capture has one turn)")
    elif (later := template(follow_up, gw["message"], app_id, known)).rows and _layout(
        later.rows
    ) != _layout(learnt.rows):
        missing.append("the follow-up's own fields (follow-ups use the first message's map)")


def _layout(rows: list[list[Any]]) -> list[tuple[str, str]]:
    return [(str(p), k) for p, k, _ in rows]


def _learn_user_agent(capture: Capture, chat: _Chat, found: dict[str, Any]) -> None:
    agent = chat.socket.user_agent or capture.user_agent
    if agent and "user_agent" not in found:
        found["user_agent"] = agent


# -- what differs, the table, the file


def _differences(
    found: dict[str, Any], base: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    values: dict[str, Any] = {}
    changed: list[tuple[str, str]] = []
    for key, value in found.items():
        if isinstance(value, dict):
            for name, item in value.items():
                old = base[key].get(name)
                diff = _object_diff(item, old) if name in ("query", "open_payload") else item
                if diff is None or item == old:
                    continue
                values.setdefault(key, {})[name] = diff
                changed.append((f"{key}.{name}", _shown(name, diff, old)))
        elif value != base.get(key):
            values[key] = value
            changed.append((key, str(value)))
    return values, changed


def _object_diff(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any] | None:
    diff: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    diff.update({k: None for k in old if k not in new})
    return diff or None


def _shown(name: str, value: Any, old: Any) -> str:
    if name == "message":
        return _message_change(value, old)
    if name == "turn_fields":
        return ", ".join(value)
    if name == "prompt_message_base64":
        return f"the captured message ({len(value)} characters of base64)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" if v is not None else f"{k} (gone)" for k, v in value.items())
    return str(value)


def _message_change(rows: list[list[Any]], old: list[list[Any]]) -> str:
    paths, before = [str(r[0]) for r in rows], {str(r[0]) for r in old}
    new = [p for p in paths if p not in before]
    gone = sorted(before - set(paths))
    conversation = [str(r[0]) for r in rows if r[2] == "{conversation_id}"]
    text = f"{len(rows)} fields; the conversation id at {', '.join(conversation) or 'no field'}"
    if new:
        text += f"; new: {', '.join(new[:8])}"
    if gone:
        text += f"; gone: {', '.join(gone[:8])}"
    return text


def save(learned: Learned) -> Path | None:
    """Write the learned values (0600, in a 0700 folder); None when nothing differs
    (and an earlier learned file is removed: the built-in values are today's)."""
    path = learned_path()
    if not learned.values:
        path.unlink(missing_ok=True)
        return None
    comment = "Learned by `metaai-ls learn`; `metaai-ls learn --forget` removes it."
    text = _dumps({"_comment": comment, **learned.values})
    if redact(text) != text:  # never: every value comes from fields that hold no secret
        raise LearnError(
            "The learned values would hold a secret of the capture: nothing was written."
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)  # metaai-ls's own folder, whoever made it
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text + "\n")
    os.replace(temporary, path)
    return path


def _dumps(values: dict[str, Any]) -> str:
    """Indented JSON with the message's rows one to a line, as identifiers.json has them."""
    gateway = values.get("gateway", {})
    if "message" not in gateway:
        return json.dumps(values, indent=1, ensure_ascii=False)
    marker = "\u0000rows\u0000"
    text = json.dumps(
        {**values, "gateway": {**gateway, "message": marker}}, indent=1, ensure_ascii=False
    )
    rows = ",\n".join("   " + json.dumps(row, ensure_ascii=False) for row in gateway["message"])
    return text.replace(json.dumps(marker), "[\n" + rows + "\n  ]")


def forget() -> str:
    path = learned_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return f"Nothing to forget: {path} does not exist (the built-in values are in use)."
    return f"Removed {path}: metaai-ls uses its built-in values again."


def report(learned: Learned, written: Path | None, capture: str, replaced: bool = False) -> str:
    turns = "a first message and a follow-up" if learned.turns > 1 else "one message"
    lines = [f"Learnt from {os.path.basename(capture)} (a new chat: {turns}):"]
    if learned.changed:
        width = max(len(name) for name, _ in learned.changed)
        lines += [f"  {name:<{width}}  {value}" for name, value in learned.changed]
    else:
        lines.append("  nothing differs from the built-in values.")
    if learned.missing:
        lines.append("Could not learn:")
        lines += [f"  - {item}" for item in learned.missing]
    if written is not None:
        lines.append(
            f"Wrote {written}: the CLI, `metaai-ls doctor` and the language server use it "
            "from now on (`metaai-ls learn --forget` goes back to the built-in values)."
        )
    else:
        earlier = " (the values learnt earlier are removed)" if replaced else ""
        lines.append(f"Nothing written{earlier}: the built-in values are what the capture sent.")
    return redact("\n".join(lines))


def run(
    path: str | None, forget_all: bool = False, question: str = DEFAULT_QUESTION
) -> tuple[bool, str]:
    """One `learn` (or `--forget`) as the CLI and the server run it: (ok, report)."""
    from .errors import MetaAIError

    if forget_all:
        return True, forget()
    if not path:
        return False, "Give the browser capture to learn from (a HAR file). " + LEARN_STEPS
    try:
        learned = learn(path, question)
        replaced = learned_path().exists()
        written = save(learned)
    except MetaAIError as error:
        return False, error.message
    except OSError as error:
        return (
            False,
            f"The learned values cannot be written to {learned_path()}: {error.strerror or error}.",
        )
    return True, report(learned, written, path, replaced)

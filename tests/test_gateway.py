"""The gateway dialect (today's meta.ai) against the fake gateway, over real sockets, and
its pure parts (frames, the protobuf message, the answer's events) on their own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaai_ls.provider import (
    AnswerCutOffError,
    BlockedError,
    ClientChangedError,
    ConfigError,
    Conversation,
    LoginExpiredError,
    LoginRequiredError,
    MetaAI,
    MetaAIAccount,
    MetaAIError,
    MetaAITimeoutError,
    RateLimitedError,
    Revision,
    protowire,
)
from metaai_ls.provider import frames as frames_module
from metaai_ls.provider.gateway_answer import GatewayAnswer
from metaai_ls.testing import FakeAnswer
from metaai_ls.testing.texts import js_json
from tests.conftest import SECRET_SESSION, assert_no_secret
from tests.test_hostile import utf16_pieces

ANSWER = "Hello 👋 wörld!\r\nHere is code:\n```python\nprint('日本語')\n```\nThat's all. 🎉"
MESSAGES = [{"role": "user", "content": "Say hello"}]


async def collect(cookies, model: str = "fast", **kwargs) -> list:
    return [
        chunk
        async for chunk in MetaAIAccount.create_async_generator(
            model=model, messages=MESSAGES, cookies=cookies, **kwargs
        )
    ]


async def test_the_home_page_tells_the_dialect_and_the_message_carries_every_field(
    fake_env, cookies
):
    await collect(cookies)
    paths = [r.path for r in fake_env.requests]
    # The token first; then the GraphQL calls run beside the handshake.
    assert paths[0] == "/" and sorted(paths[1:]) == ["/api/graphql", "/api/graphql", "/ws/clippy"]
    home = fake_env.requests[0]
    warmup, mode = (r for r in fake_env.requests if r.path == "/api/graphql")
    (socket,) = (r for r in fake_env.requests if r.path == "/ws/clippy")
    assert home.cookies == cookies
    assert warmup.json["doc_id"] == "e7f802582dbfed8e181b012e010993eb"
    assert mode.json["variables"]["input"]["mode"] == "think_fast"
    assert warmup.headers["x-asbd-id"] == "129477"
    assert socket.query["Authorization"].startswith("ecto1:")
    assert socket.query["x-dgw-appid"] == "1522763855472543"
    assert socket.query["x-dgw-authtype"] == "15:0"
    assert socket.headers["Origin"] == fake_env.url
    assert "Cookie" not in socket.headers  # the gateway needs the token only
    (sent,) = fake_env.sent_messages()
    assert sent.prompt == "Say hello"
    fields = sent.fields
    conversation_id = warmup.json["variables"]["conversationId"]
    assert fields["conversation_ids"] == [conversation_id] * 3 == [sent.conversation_id] * 3
    assert fields["entry_point"] == "KADABRA__HOME__UNIFIED_INPUT_BAR"
    assert (fields["mode_id"], fields["mode_name"]) == (1000, "MODE_FAST")
    assert fields["req_id"] == fields["request_id_in_message"]
    assert fields["message_key"] >> 22 == fields["sent_at_ms"]
    assert fields["sent_at_ms"] > 1_700_000_000_000


async def test_follow_ups_keep_the_conversation_and_change_the_entry_point(fake_env, cookies):
    conversation = Conversation()
    await collect(cookies, model="thinking", conversation=conversation)
    await collect(cookies, model="thinking", conversation=conversation)
    await collect(cookies)
    first, second, other = fake_env.sent_messages()
    assert first.conversation_id == second.conversation_id == conversation.id
    assert other.conversation_id != conversation.id
    assert first.fields["entry_point"].startswith("KADABRA__HOME")
    assert second.fields["entry_point"].startswith("KADABRA__CHAT")
    assert first.fields["mode_name"] == "mode_thinking" and first.fields["mode_id"] == 1001
    # The warm-up and mode calls are made once per conversation.
    warmups = [r for r in fake_env.requests if r.path == "/api/graphql"]
    assert len(warmups) == 4
    assert conversation.turns == 2


async def test_a_token_is_reused_for_at_most_its_age(fake_env, cookies):
    await collect(cookies)
    await collect(cookies)
    homes = [r for r in fake_env.requests if r.path == "/"]
    tokens = {r.query["Authorization"] for r in fake_env.requests if r.path == "/ws/clippy"}
    assert len(homes) == 1 and len(tokens) == 1
    await collect(cookies, identifiers={"web": {"token_max_age_seconds": 0}})
    assert len([r for r in fake_env.requests if r.path == "/"]) == 2


async def test_a_rejected_turn_is_retried_once_with_a_fresh_token(fake_env, cookies):
    fake_env.scenario = "rejected"
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies)) == ANSWER
    tokens = [r.query["Authorization"] for r in fake_env.requests if r.path == "/ws/clippy"]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


async def test_rejected_twice_says_meta_changed_its_client(fake_env, cookies):
    fake_env.scenario = "rejected_always"
    with pytest.raises(ClientChangedError, match=r"metaai-ls learn FILE\.har"):
        await collect(cookies)
    assert len([r for r in fake_env.requests if r.path == "/ws/clippy"]) == 2


async def test_the_challenge_page_is_solved_and_its_cookies_kept(fake_env, cookies):
    fake_env.scenario = "challenge"
    assert await collect(cookies)
    first, verify, second = fake_env.requests[:3]
    assert first.path == "/" and verify.path.startswith("/__rd_verify_")
    assert verify.query == {"challenge": "3"} and verify.headers["Origin"] == fake_env.url
    assert second.cookies == {**cookies, "rd_challenge": "solved", "wd": "1280x720"}


@pytest.mark.parametrize(
    ("scenario", "error", "words"),
    [
        ("expired", LoginRequiredError, "no access token"),
        ("challenge_stays", ClientChangedError, "challenge page stays"),
        ("client_changed", ClientChangedError, "Unknown type"),
        ("blocked", BlockedError, "security system"),
        ("no_ack", MetaAITimeoutError, "acknowledgement"),
        ("hang", MetaAITimeoutError, "start answering"),
    ],
)
async def test_each_gateway_failure_has_its_own_error_and_a_sentence(
    fake_env, cookies, scenario, error, words, caplog
):
    fake_env.scenario = scenario
    with pytest.raises(error) as raised:
        await collect(cookies, read_timeout=0.3, first_text_timeout=0.3)
    assert isinstance(raised.value, MetaAIError)
    assert words in str(raised.value)
    assert_no_secret(str(raised.value), caplog.text)


@pytest.mark.parametrize("scenario", ["<marker>unauthorized", "<marker>rate_limited"])
async def test_turn_level_refusals(fake_env, cookies, scenario):
    name = scenario.removeprefix("<marker>")
    messages = [{"role": "user", "content": f"[[fake:{name}]] hi"}]
    expected = LoginExpiredError if name == "unauthorized" else RateLimitedError
    with pytest.raises(expected):
        async for _ in MetaAIAccount.create_async_generator("fast", messages, cookies=cookies):
            pass


async def test_silence_after_the_answer_began_is_a_cut_off(fake_env, cookies):
    fake_env.scenario = "slow"
    fake_env.slow_interval = 1.0
    fake_env.answers.append(FakeAnswer("x" * 60))
    with pytest.raises(AnswerCutOffError):
        await collect(cookies, read_timeout=0.3, first_text_timeout=5)


async def test_a_slow_first_answer_waits_for_the_first_text_timeout(fake_env, cookies):
    fake_env.scenario = "slow_first_byte"
    fake_env.slow_seconds = 0.6
    fake_env.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(cookies, read_timeout=0.3, first_text_timeout=5)
    assert "".join(chunks) == ANSWER


@pytest.mark.parametrize("scenario", ["garbage", "out_of_order", "thinking", "slow"])
async def test_noise_order_and_reasoning_do_not_change_the_answer(fake_env, cookies, scenario):
    fake_env.scenario = scenario
    fake_env.slow_interval = 0.01
    fake_env.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(cookies)
    assert "".join(chunks) == ANSWER
    assert "Let me think" not in "".join(chunks) and "hidden" not in "".join(chunks)


async def test_the_final_answer_wins(fake_env, cookies):
    fake_env.scenario = "revised"
    fake_env.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(cookies)
    assert "".join(map(str, chunks)) == ANSWER + " (revised)"


async def test_the_debounced_gateway_gets_the_message_after_the_wait(
    fake_env, cookies, monkeypatch
):
    monkeypatch.delenv("METAAI_IDENTIFIERS")  # the real 350 ms wait after opening a stream
    fake_env.debounce = 0.3
    started = time.monotonic()
    assert await collect(cookies, read_timeout=2, first_text_timeout=2)
    assert time.monotonic() - started >= 0.35


async def test_unknown_models_list_the_valid_ones_before_any_request(fake_env, cookies):
    with pytest.raises(ConfigError, match="fast, thinking"):
        await collect(cookies, model="gpt-5")
    assert fake_env.requests == []


async def test_anonymous_use_on_the_gateway_is_the_missing_login_error(fake_env):
    with pytest.raises(LoginRequiredError, match=r"needs a meta\.ai login"):
        async for _ in MetaAI.create_async_generator("fast", MESSAGES):
            pass


async def test_protocol_abra_against_a_gateway_site_is_a_clear_error(fake_env, cookies):
    with pytest.raises(LoginRequiredError):
        await collect(cookies, protocol="abra")


async def test_identifiers_override_with_unknown_keys_named(fake_env, cookies):
    with pytest.raises(ConfigError, match=r"gateway\.app_idd \(unknown\)"):
        await collect(cookies, identifiers={"gateway": {"app_idd": "1"}})
    with pytest.raises(ConfigError, match=r"web\.token_max_age_seconds \(must be int\)"):
        await collect(cookies, identifiers={"web": {"token_max_age_seconds": "x"}})


async def test_a_captured_message_is_patched_instead_of_built(fake_env, cookies):
    captured = protowire.build(
        [
            ["1.1.1", "string", "OLD"],
            ["1.1.99", "string", "kept"],
            ["2.2", "string", "old"],
            ["1.1.5.5.1", "string", "old-conv"],
            ["1.10.4", "string", "old-conv"],
            ["2.1.2.1", "string", "old-conv"],
        ],
        {},
    )
    ids = {"gateway": {"prompt_message_base64": base64.b64encode(captured).decode()}}
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies, identifiers=ids)) == ANSWER
    (sent,) = fake_env.sent_messages()
    assert sent.prompt == "Say hello" and sent.fields["entry_point"].startswith("KADABRA")
    assert sent.fields["app_id"] == ""  # not in the capture and not a turn field


async def test_no_secret_in_logs_even_at_debug(fake_env, cookies, caplog):
    await collect(cookies)
    token = next(r.query["Authorization"] for r in fake_env.requests if r.path == "/ws/clippy")
    assert token.removeprefix("ecto1:") not in caplog.text
    assert_no_secret(caplog.text)
    assert SECRET_SESSION in fake_env.requests[0].cookies.values()  # yet it was sent


# -- the pure parts


def test_the_message_types_named_for_the_frame_loop_are_aiohttps():
    import aiohttp

    from metaai_ls.provider import gateway

    kinds = (gateway.WS_TEXT, gateway.WS_BINARY, gateway.WS_PING, gateway.WS_PONG)
    assert kinds == tuple(aiohttp.WSMsgType[n] for n in ("TEXT", "BINARY", "PING", "PONG"))


def test_data_frames_count_the_two_header_bytes():
    frame = frames_module.data_frame({"req-id": "r", "payload": "AA=="}, 3)
    body = json.dumps({"req-id": "r", "payload": "AA=="}, separators=(",", ":")).encode()
    assert frame[0] == 0x0D and frame[1:3] == b"\x00\x00"
    assert int.from_bytes(frame[3:6], "little") == len(body) + 2
    assert frame[6:8] == b"\x03\x80" and frame[8:] == body
    (read,) = frames_module.read_frames(frame)
    assert (read.type, read.sequence, read.body) == (13, 3, body)
    opened = frames_module.open_frame({"a": 1})
    assert opened[0] == 0x0F and int.from_bytes(opened[3:6], "little") == len(opened) - 6


def test_events_are_read_past_trailing_bytes_and_inside_protobuf():
    event = {"seq": 1, "type": "patch", "operations": []}
    raw = json.dumps(event).encode()
    assert frames_module.event_of(b"\x01" + raw + b"\x00}\x12") == event
    envelope = protowire.build([["1.4.10", "bytes", raw.hex()]], {})
    assert frames_module.event_of(envelope) == event
    assert frames_module.event_of(b"nothing here") is None


def test_protobuf_rows_encode_as_the_wire_format():
    data = protowire.build(
        [
            ["1.2", "varint", 300],
            ["1.3", "string", "é"],
            ["2", "float", 1.0],
            ["1.5", "bytes", "03"],
        ],
        {},
    )
    # field 1 (len) { field 2 varint 300, field 3 string }, field 2 fixed32
    assert data == bytes.fromhex("0a0a10ac021a02c3a92a0103") + bytes.fromhex("150000803f")


@given(st.text(max_size=200), st.integers(min_value=0, max_value=2**63))
@settings(max_examples=200, deadline=None)
def test_protobuf_round_trips_any_text_and_number(text, number):
    data = protowire.build(
        [["1.1.5.5.1", "string", "{t}"], ["2.1.2.3", "varint", "{n}"]], {"t": text, "n": number}
    )
    assert protowire.find(data, "1.1.5.5.1").decode() == text
    assert protowire.find(data, "2.1.2.3") == number


def _patch(seq: int, value: str, section: int = 0) -> dict:
    path = f"/sections/{section}/view_model/primitive/text"
    return {
        "seq": seq,
        "type": "patch",
        "operations": [{"op": "delta", "path": path, "value": value}],
    }


def _full(seq: int | None, *texts: str) -> dict:
    sections = [{"view_model": {"primitive": {"text": t}}} for t in texts]
    event = {"response_id": "r", "sections": sections}
    return event if seq is None else {"seq": seq, "type": "full", "response": event}


def test_events_are_applied_in_seq_order():
    answer = GatewayAnswer()
    out = []
    for event in [_full(0, "A"), _patch(2, "C"), _patch(1, "B"), _patch(3, "D")]:
        out += answer.feed(event)
    assert out == ["A", "BC", "D"]
    assert answer.feed(_full(None, "ABCDE")) == ["E"] and answer.done


def test_a_final_answer_that_disagrees_is_a_revision():
    answer = GatewayAnswer()
    answer.feed(_full(0, "Hello"))
    (revision,) = answer.feed(_full(None, "Goodbye"))
    assert isinstance(revision, Revision) and revision.text == "Goodbye"
    assert answer.text == "Goodbye"


def test_lagging_snapshots_are_not_trusted():
    answer = GatewayAnswer()
    out = answer.feed(_full(0, "Hel")) + answer.feed(_patch(1, "lo"))
    out += answer.feed(_full(2, "He"))  # behind what was streamed: ignored
    out += answer.feed(_patch(3, "!"))
    assert out == ["Hel", "lo", "!"]


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=30), st.randoms())
@settings(max_examples=300, deadline=None)
def test_any_arrival_order_gives_the_exact_answer(pieces, random):
    events = [_full(0, pieces[0])] + [_patch(i, p) for i, p in enumerate(pieces[1:], 1)]
    random.shuffle(events)
    answer = GatewayAnswer()
    out = []
    for event in events:
        out += answer.feed(event)
    out += answer.feed(_full(None, "".join(pieces)))
    assert all(isinstance(o, str) and o for o in out)
    assert "".join(out) == "".join(pieces)


# -- snapshots read from their new bytes (issue 17, Speed)


def _snapshot_stream(
    pieces: list[str], every: int, compact: bool, odd: int, other: int = -1
) -> list[dict]:
    """The gateway's events for an answer: a snapshot every ``every`` events, the rest
    patches; ``odd``: one snapshot (at that index, when there is one) that lags behind;
    ``other``: one patch of another shape (a key more)."""
    events, sent = [], ""
    for seq, piece in enumerate(pieces):
        sent += piece
        if seq % every == 0:
            text = sent[: len(sent) // 2] if seq == odd else sent
            event = _full(seq, text)
            if compact:  # the real gateway: `seq` first
                event = {"seq": seq, "type": "full", "response": event["response"]}
            else:
                event = _seq_last({"seq": seq, "type": "full", "response": event["response"]})
            events.append(event)
        else:
            patch = _patch(seq, piece) | ({"x": [1]} if seq == other else {})
            events.append(patch if compact else _seq_last(patch))
    return events


def _seq_last(event: dict) -> dict:
    """The event with its ``seq`` last, as the fake writes it (the real gateway: first)."""
    return {k: v for k, v in event.items() if k != "seq"} | {"seq": event["seq"]}


def _bodies(events: list[dict], compact: bool) -> list[bytes]:
    return [
        js_json(e, compact) + (b"\x00\x12" if i % 3 == 1 else b"") for i, e in enumerate(events)
    ]


@given(
    st.text(st.sampled_from('ab \n"\\/é日👋😀\u2028'), min_size=1, max_size=120),
    st.lists(st.integers(0, 400), max_size=40),
    st.integers(1, 6),
    st.booleans(),
    st.integers(-1, 40),
    st.integers(-1, 40),
)
@settings(max_examples=300, deadline=None)
def test_events_read_from_their_bytes_give_what_parsing_them_gives(
    text, cuts, every, compact, odd, other
):
    """Escapes, quotes, UTF-16 cuts (halves of pairs), both key orders, trailing bytes,
    a lagging snapshot, a patch of another shape: the same results, delta for delta, as
    every event parsed whole."""
    pieces = utf16_pieces(text, cuts)
    events = _snapshot_stream(pieces, every, compact, odd, other)
    parsed, read = GatewayAnswer(), GatewayAnswer()
    expected = [r for e in events for r in parsed.feed(e)]
    got = [r for b in _bodies(events, compact) for r in read.feed_body(b)]
    assert got == expected
    final = _full(None, "".join(pieces))
    assert parsed.feed(final) == read.feed_body(js_json(final, compact))
    assert read.text == parsed.text


def test_a_long_answer_is_parsed_once_not_once_per_snapshot(monkeypatch):
    """Each snapshot repeats the whole answer so far, each delta the keys of the last:
    parsed whole, a 20,000-character answer in 12-character deltas with a snapshot every
    10 events parses 2 MB of JSON; read from their bytes, about the answer's bytes."""
    from metaai_ls.provider import decode

    pieces = [f"line {n}: x = f({n}) ✓ 😀\n"[:12] for n in range(1700)]
    events = _snapshot_stream(pieces, 10, True, -1)
    bodies = _bodies(events, True)
    parsed_bytes = []
    loads = decode.fast_loads
    monkeypatch.setattr(decode, "fast_loads", lambda b: parsed_bytes.append(len(b)) or loads(b))
    answer = GatewayAnswer()
    out = [r for b in bodies for r in answer.feed_body(b)]
    assert "".join(out) == "".join(pieces)
    patches = sum(len(b) for b, e in zip(bodies, events, strict=True) if e["type"] == "patch")
    assert sum(parsed_bytes) < patches / 2  # parsed whole: 10 times the patches' bytes


def test_a_delta_of_the_usual_shape_is_read_only_where_it_is_that_shape():
    from metaai_ls.provider.event_bytes import DeltaShape

    for compact in (True, False):  # `seq` first (the real gateway) or last (the fake)

        def body(seq: int, value: str, compact=compact, **more) -> bytes:
            event = _patch(seq, value, more.pop("section", 0)) | more
            return js_json(event if compact else _seq_last(event), compact)

        learnt = _patch(9, "a")
        shape = DeltaShape.learn(body(9, "a"), learnt)
        assert shape is not None and shape.path == "/sections/0/view_model/primitive/text"
        value = shape.value  # the body, the seq digits expected
        assert value(body(10, 'x "y" \\ 日😀'), b"10") == 'x "y" \\ 日😀'
        assert value(body(10, "x") + b"\x00\x12", b"10") == "x"
        assert value(body(10, "x"), b"1") is None  # seq 10, not 1
        assert value(body(1, "x"), b"10") is None
        assert value(body(10, "x", section=1), b"10") is None
        assert value(body(10, "x", error="no"), b"10") is None
        assert value(body(10, "\ud83d"), b"10") is None  # half a pair: parsed whole
        assert value(body(10, "x") + b"}", b"10") is None


def test_deltas_to_a_new_section_are_read_from_their_bytes_too(monkeypatch):
    parsed = []
    event_of = frames_module.event_of
    monkeypatch.setattr(frames_module, "event_of", lambda b: parsed.append(b) or event_of(b))
    added = {"op": "add", "path": "/sections/1", "value": _full(0, "B")["response"]["sections"][0]}
    events = [_full(0, "A"), *(_patch(n, "a") for n in range(1, 30))]
    events += [{"seq": 30, "type": "patch", "operations": [added]}]
    events += [_patch(n, "b", section=1) for n in range(31, 60)]
    answer = GatewayAnswer()
    out = [r for e in events for r in answer.feed_body(js_json(e, True))]
    assert "".join(out) == "A" + "a" * 29 + "B" + "b" * 29
    assert len(parsed) == 4  # the snapshot, a delta of each shape, the new section


def test_a_snapshot_that_rewrites_the_text_is_not_trusted_when_read_from_its_bytes():
    answer = GatewayAnswer()
    out = answer.feed_body(js_json(_full(0, "Hello"), True))
    out += answer.feed_body(js_json(_patch(1, " wor"), True))
    out += answer.feed_body(js_json(_full(2, "Hello world"), True))
    out += answer.feed_body(js_json(_full(3, "Jello world!"), True))  # rewritten: ignored
    other = _full(4, "Hello world!?")
    other["response"]["response_id"] = "another"  # another answer's snapshot: parsed whole
    out += answer.feed_body(js_json(other, True))
    assert out == ["Hello", " wor", "ld", "!?"]


# -- the socket of a conversation (issue 19) and cached tokens (issue 17 §3)


def handshakes(fake) -> list:
    return [r for r in fake.requests if r.path == "/ws/clippy"]


async def wait_for(predicate, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_a_follow_up_goes_on_the_kept_socket_with_the_next_sequence(fake_env, cookies):
    from metaai_ls.provider.sockets import POOL

    conversation = Conversation()
    fake_env.answers.extend([FakeAnswer("first answer"), FakeAnswer("second answer")])
    assert "".join(await collect(cookies, conversation=conversation)) == "first answer"
    assert len(POOL) == 1  # kept, open
    assert "".join(await collect(cookies, conversation=conversation)) == "second answer"
    first, second = fake_env.sent_messages()
    assert len(handshakes(fake_env)) == 1 and fake_env.sockets == 1  # no new handshake
    assert first.fields["socket"] == second.fields["socket"]
    assert (first.fields["sequence"], second.fields["sequence"]) == (0, 1)
    assert second.fields["entry_point"].startswith("KADABRA__CHAT")
    assert [r.path for r in fake_env.requests].count("/") == 1  # no token needed
    assert fake_env.dropped == []


@pytest.mark.parametrize("how", ["idle_close", "drain", "deauth", "restart"])
async def test_a_follow_up_after_the_gateway_dropped_the_socket_is_answered(fake_env, cookies, how):
    conversation = Conversation()
    fake_env.answers.extend([FakeAnswer("one"), FakeAnswer("two")])
    if how == "idle_close":
        fake_env.idle_close = 0.05
    elif how in ("drain", "deauth"):
        fake_env.answers[0].scenario = how
    await collect(cookies, conversation=conversation)
    if how == "restart":
        await fake_env.restart()  # forgets its tokens too: the cached one is refused
    await wait_for(lambda: not fake_env.open_sockets)
    assert "".join(await collect(cookies, conversation=conversation)) == "two"
    assert fake_env.sockets == 2
    homes = [r for r in fake_env.requests if r.path == "/"]
    assert len(homes) == (2 if how in ("restart", "deauth") else 1)


async def test_a_follow_up_whose_socket_died_before_any_text_is_sent_again(fake_env, cookies):
    conversation = Conversation()
    fake_env.answers.extend([FakeAnswer("one"), FakeAnswer("two", "drop_once")])
    await collect(cookies, conversation=conversation)
    assert "".join(await collect(cookies, conversation=conversation)) == "two"
    prompts = [m.prompt for m in fake_env.sent_messages()]
    assert prompts == ["Say hello"] * 3  # the lost turn went again, on a new socket
    assert fake_env.sockets == 2 and conversation.turns == 2


async def test_a_kept_socket_answers_pings_and_goes_after_its_idle_time(fake_env, cookies):
    from metaai_ls.provider.sockets import POOL

    fake_env.idle_pings = 0.05
    ids = {"gateway": {"keep_socket_seconds": 0.6}}
    await collect(cookies, identifiers=ids)
    await wait_for(lambda: fake_env.pongs["gateway"] >= 3 and fake_env.pongs["websocket"] >= 3)
    assert len(POOL) == 1
    await wait_for(lambda: not fake_env.open_sockets)  # dropped by the client, unused
    assert len(POOL) == 0


async def test_a_cancelled_ask_leaves_no_socket_mid_answer_in_the_pool(fake_env, cookies):
    from metaai_ls.provider.sockets import POOL

    conversation = Conversation()
    fake_env.scenario = "slow"
    fake_env.answers.append(FakeAnswer("x" * 600))
    started = asyncio.Event()

    async def consume():
        async for _ in MetaAIAccount.create_async_generator(
            "fast", MESSAGES, cookies=cookies, conversation=conversation
        ):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(POOL) == 0
    await wait_for(lambda: not fake_env.open_sockets)
    fake_env.scenario = "ok"
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies, conversation=conversation)) == ANSWER


@pytest.mark.parametrize("scenario", ["cut", "errors_line", "revised"])
async def test_only_a_cleanly_ended_turn_keeps_its_socket(fake_env, cookies, scenario):
    from metaai_ls.provider.sockets import POOL

    fake_env.scenario = scenario
    with contextlib.suppress(MetaAIError):
        await collect(cookies)
    assert len(POOL) == (1 if scenario == "revised" else 0)


async def test_the_graphql_calls_run_beside_the_handshake(fake_env, cookies):
    fake_env.latencies["graphql"] = 0.4
    await collect(cookies)
    warmup, mode = (r for r in fake_env.requests if r.path == "/api/graphql")
    (socket,) = handshakes(fake_env)
    assert warmup.at < socket.at < mode.at  # the socket did not wait for the warm-up call


async def test_the_graphql_calls_are_a_switch(fake_env, cookies):
    fake_env.answers.append(FakeAnswer(ANSWER))
    ids = {"gateway": {"setup_graphql": False}}
    assert "".join(await collect(cookies, identifiers=ids)) == ANSWER
    assert [r.path for r in fake_env.requests] == ["/", "/ws/clippy"]


async def test_a_cached_token_the_gateway_forgot_is_replaced_once(fake_env, cookies):
    await collect(cookies)
    await fake_env.restart()  # between asks: every token it issued is forgotten
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies)) == ANSWER  # a new conversation: a handshake
    refused, accepted = handshakes(fake_env)[1:]
    assert refused.query["Authorization"] != accepted.query["Authorization"]
    assert [r.path for r in fake_env.requests].count("/") == 2


async def test_only_a_refusal_of_the_fresh_token_is_a_login_error(fake_env, cookies):
    await collect(cookies)
    fake_env.scenario = "unauthorized"  # every handshake refused from now on
    with pytest.raises(LoginExpiredError, match="HTTP 401"):
        await collect(cookies)
    assert len(handshakes(fake_env)) == 3  # the cached token, then one fresh one


@pytest.mark.parametrize("scenario", ["greeting", "slow_first_byte", "thinking"])
async def test_frames_without_text_do_not_end_the_wait_for_the_first_text(
    fake_env, cookies, scenario
):
    # A greeting before the ack, the small ack after the message, reasoning: then a
    # silence longer than the read time-out, shorter than the first-text one.
    fake_env.scenario = scenario
    fake_env.slow_seconds = 0.8
    fake_env.latencies["first_text"] = 0.8
    fake_env.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(cookies, read_timeout=0.3, first_text_timeout=5)
    assert "".join(chunks) == ANSWER


async def test_the_first_text_time_out_still_ends_a_silent_turn(fake_env, cookies):
    fake_env.scenario = "slow_first_byte"
    fake_env.slow_seconds = 3
    with pytest.raises(MetaAITimeoutError, match="start answering"):
        await collect(cookies, read_timeout=0.2, first_text_timeout=0.6)


async def test_a_socket_closed_before_its_acknowledgement_is_opened_again(fake_env, cookies):
    """A gateway that restarts between the handshake and the acknowledgement: the turn goes
    on a new socket with a fresh token (it was an AttributeError on None)."""
    fake_env.answers.append(FakeAnswer(ANSWER))
    fake_env.latencies["ack"] = 0.5
    ask = asyncio.ensure_future(collect(cookies))
    await wait_for(lambda: fake_env.open_sockets)
    fake_env.latencies["ack"] = 0.0
    await fake_env.restart()
    assert "".join(await ask) == ANSWER
    assert fake_env.sockets == 2

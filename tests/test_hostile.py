"""What a hostile or careless Meta may send, through every door (gateway, Abra, API), and
how the CLI and the server report it (issue 16 #5 #6 #10, issue 17 §3's API bullet): a
surrogate pair split across deltas, an event nested 100,000 levels deep, an endless
answer, a 300 MB home page, a huge cookie, the output limit."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sys

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_lsp import client_capabilities

from metaai_ls.provider import (
    AnswerCutOffError,
    Conversation,
    MetaAIAccount,
    MetaModelAPI,
    UnexpectedResponseError,
)
from metaai_ls.provider.decode import REPLACEMENT, Joiner, has_surrogate
from metaai_ls.provider.errors import AnswerTooLongError, NestedTooDeepError, OutputLimitError
from metaai_ls.provider.gateway_answer import GatewayAnswer
from metaai_ls.testing import FakeAnswer, FakeMetaAI
from tests.conftest import SECRET_DATR, SECRET_SESSION
from tests.lsp import settings_for, start_client, stop_client
from tests.test_cli import run_ask

# Emoji at every alignment: cut by 3 UTF-16 units, many pieces end inside a pair.
ANSWER = "a👋bc🎉def😀" * 6 + "日本語 🧑‍💻 done 👍"
MESSAGES = [{"role": "user", "content": "Say hello"}]
DOORS = ("gateway", "abra", "api")
LOGIN = {"gateway": "ecto_1_sess", "abra": "abra_sess"}


@pytest_asyncio.fixture(params=DOORS)
async def door(request, monkeypatch):
    """The fake speaking one door's protocol, and a function collecting one answer."""
    name = request.param
    async with FakeMetaAI(dialect="abra" if name == "abra" else "gateway", chunk_size=3) as fake:
        for variable, value in fake.environment().items():
            monkeypatch.setenv(variable, value)
        fake.api_key = "LLM|77|" + secrets.token_hex(12)
        cookies = {LOGIN.get(name, "ecto_1_sess"): SECRET_SESSION, "datr": SECRET_DATR}

        async def collect(sink: list | None = None, **kwargs) -> list:
            sink = [] if sink is None else sink
            if name == "api":
                generator = MetaModelAPI.create_async_generator(
                    "muse-spark-1.3", MESSAGES, api_key=fake.api_key, **kwargs
                )
            else:
                generator = MetaAIAccount.create_async_generator(
                    "fast", MESSAGES, cookies=cookies, **kwargs
                )
            async for chunk in generator:
                sink.append(chunk)
            return sink

        fake.door = name
        yield fake, collect


# -- #5 surrogate pairs split across deltas


async def test_a_pair_split_across_deltas_never_yields_half_of_it(door):
    fake, collect = door
    fake.scenario = "utf16"
    fake.answers.append(FakeAnswer(ANSWER))
    chunks = await collect()
    assert not any(has_surrogate(chunk) for chunk in chunks)
    assert all(chunk for chunk in chunks)
    assert "".join(chunks) == ANSWER  # nothing lost, nothing revised
    for chunk in chunks:
        chunk.encode("utf-8")  # what the CLI and every editor need


@pytest.mark.parametrize("backend", ["account", "api"])
async def test_the_cli_prints_an_answer_cut_by_utf16_units(fake, cookie_file, backend):
    fake.chunk_size = 3
    fake.answers.append(FakeAnswer(ANSWER))
    env = {"MODEL_API_KEY": fake.api_key}
    code, out, err = await run_ask(
        fake, cookie_file, "--backend", backend, "[[fake:utf16]] hi", env=env
    )
    assert (code, out) == (0, ANSWER + "\n"), err
    assert "Traceback" not in err and "revised" not in err


async def test_the_server_streams_an_answer_cut_by_utf16_units(fake, cookie_file, tmp_path):
    fake.chunk_size = 3
    fake.answers.append(FakeAnswer(ANSWER))
    client = await start_client(
        client_capabilities("visual_studio_code"), settings_for(fake, cookie_file), str(tmp_path)
    )
    try:
        doc = client.open("file:///w/u.py", "x = 1\n")
        result = await client.ask(uri=doc.uri, prompt="[[fake:utf16]] hi", mode="chat")
        assert result == {"text": ANSWER}
        reports = [v.message for values in client.progress_reports.values() for v in values]
        assert reports and not any(has_surrogate(m or "") for m in reports)
    finally:
        await stop_client(client)


def utf16_pieces(text: str, cuts: list[int]) -> list[str]:
    units = text.encode("utf-16-le", "surrogatepass")
    bounds = sorted({0, len(units), *(2 * (c % (len(units) // 2 + 1)) for c in cuts)})
    return [units[a:b].decode("utf-16-le", "surrogatepass") for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.sampled_from("ab\n日👋🎉😀🧑‍💻"), min_size=1, max_size=40),
    st.lists(st.integers(0, 200), max_size=30),
    st.integers(1, 9),
)
def test_any_utf16_cut_gives_the_exact_answer_and_no_half(text, cuts, snapshot_every):
    """The gateway's events (patches, snapshots every few events, the final object) and
    the API's deltas, cut anywhere by UTF-16 units."""
    parts = utf16_pieces(text, cuts)
    answer, api, sent = GatewayAnswer(), Joiner(), ""
    results = answer.feed({"type": "full", "seq": 0, "response": _response("")})
    api_out = []
    for seq, part in enumerate(parts, start=1):
        sent += part
        if seq % snapshot_every == 0:
            event = {"type": "full", "seq": seq, "response": _response(sent)}
        else:
            path = "/sections/0/view_model/primitive/text"
            event = {"type": "patch", "seq": seq, "operations": [_delta(path, part)]}
        results += answer.feed(event)
        api_out.append(api.feed(part))
    streamed = "".join(results)
    results += answer.finish({"response_id": "r", "sections": _response(text)["sections"]})
    api_out.append(api.finish())
    for out in (results, api_out):
        assert not any(has_surrogate(str(r)) for r in out)
        assert "".join(str(r) for r in out) == text
    assert text.startswith(streamed)


def test_a_half_that_never_pairs_becomes_a_replacement_character():
    joiner = Joiner()
    assert joiner.feed("a\ud83d") == "a"
    assert joiner.feed("b") == REPLACEMENT + "b"
    assert joiner.feed("\udc4bc") == REPLACEMENT + "c"
    assert joiner.feed("d\ud83d") == "d"
    assert joiner.finish() == REPLACEMENT
    answer = GatewayAnswer()
    answer.feed({"type": "full", "seq": 0, "response": _response("x\ud83d")})
    assert "".join(answer.flush_held()) == REPLACEMENT  # the turn ended without its pair
    assert answer.text == "x" + REPLACEMENT


def _response(text: str) -> dict:
    primitive = {"__typename": "GenAIMarkdownTextUXPrimitive", "text": text}
    return {"sections": [{"view_model": {"primitive": primitive}}]}


def _delta(path: str, value: str) -> dict:
    return {"op": "delta", "path": path, "value": value}


# -- #6 an event nested 100,000 levels deep


async def test_an_event_nested_too_deep_is_a_sentence(door):
    fake, collect = door
    fake.scenario = "deep"
    fake.answers.append(FakeAnswer(ANSWER))
    with pytest.raises(NestedTooDeepError) as raised:
        await collect()
    assert isinstance(raised.value, UnexpectedResponseError)
    assert "nested more than 1024 levels deep" in raised.value.message


async def test_the_cli_and_the_server_say_so_without_a_traceback(fake, cookie_file, tmp_path):
    code, _, err = await run_ask(fake, cookie_file, "[[fake:deep]] hi")
    assert code == 6 and "Traceback" not in err and "RecursionError" not in err
    assert "metaai-ls: Meta AI sent an unexpected answer (a message nested more than" in err
    client = await start_client(
        client_capabilities("neovim"), settings_for(fake, cookie_file), str(tmp_path)
    )
    try:
        doc = client.open("file:///w/d.py", "x = 1\n")
        result = await client.ask(uri=doc.uri, prompt="[[fake:deep]] hi", mode="chat")
        assert "nested more than 1024 levels deep" in result["error"]
        assert not any("unexpectedly" in m.message for m in client.messages)
    finally:
        await stop_client(client)


# -- #10 caps on what is read


@pytest.mark.parametrize("door", ["gateway", "api"], indirect=True)
async def test_an_endless_answer_stops_at_the_cap(door, monkeypatch):
    fake, collect = door
    fake.scenario = "endless"
    monkeypatch.setenv("METAAI_MAX_ANSWER_MB", "0.25")
    received: list[str] = []
    with pytest.raises(AnswerTooLongError, match=r"passed the limit of 0\.25 MB") as raised:
        await collect(received)
    assert isinstance(raised.value, AnswerCutOffError)
    assert 0.2 * (1 << 20) < len("".join(received)) <= 0.25 * (1 << 20)
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None)


async def test_the_answer_cap_is_a_setting_of_the_server(fake, cookie_file, tmp_path):
    client = await start_client(
        client_capabilities("visual_studio_code"),
        settings_for(fake, cookie_file, maxAnswerMB=0.1),
        str(tmp_path),
        # pytest-lsp forwards stderr by lines of at most 64 KiB: the DEBUG log of a 0.1 MB
        # result would stop it, and the server would then block on a full pipe.
        env={"METAAI_LOG_LEVEL": "WARNING"},
    )
    try:
        doc = client.open("file:///w/e.py", "x = 1\n")
        result = await client.ask(uri=doc.uri, prompt="[[fake:endless]] go", mode="chat")
        assert "passed the limit of 0.1 MB" in result["error"]
        assert len(result["text"]) <= 0.1 * (1 << 20)
        assert any("passed the limit" in m.message for m in client.messages)
    finally:
        await stop_client(client)


@pytest.mark.parametrize("door", ["gateway", "abra"], indirect=True)
async def test_a_300_mb_home_page_is_not_read_whole(door):
    fake, collect = door
    fake.scenario = "huge_page"
    with pytest.raises(UnexpectedResponseError, match="home page is larger than 16 MiB"):
        await collect()
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None)
    (page,) = [r for r in fake.streams if r.scenario == "huge_page"]
    assert page.sent_bytes < 64 << 20  # the client stopped reading: not 300 MB


@pytest.mark.parametrize(
    ("scenario", "words"),
    [("huge_cookie", "a huge cookie"), ("many_cookies", "thousands of cookies")],
)
async def test_a_huge_cookie_or_thousands_are_not_the_network(fake, cookie_file, scenario, words):
    fake.scenario = scenario
    code, _, err = await run_ask(fake, cookie_file, "hi", env={"METAAI_LOG_LEVEL": "WARNING"})
    assert code == 6 and words in err and "Could not reach" not in err and "network" not in err
    assert "Traceback" not in err and "xxxxxxxx" not in err and err.count("\n") == 1


def test_the_host_keeps_a_bounded_number_of_small_cookies():
    from http.cookies import SimpleCookie

    from metaai_ls.provider.home import _keep_cookies

    received = SimpleCookie()
    for number in range(500):
        received[f"c{number}"] = "v"
    received["big"] = "y" * 5000
    kept = {"ecto_1_sess": "s"}
    _keep_cookies(kept, received)
    assert len(kept) == 200 and "big" not in kept and kept["ecto_1_sess"] == "s"


# -- issue 17 §3: the Meta Model API


async def test_the_output_limit_before_any_text_is_an_error_saying_so(fake_env):
    fake_env.api_key = key = "LLM|1|" + secrets.token_hex(8)
    fake_env.scenario = "length"
    with pytest.raises(OutputLimitError, match=r"hit the output limit .*before any text"):
        async for _ in MetaModelAPI.create_async_generator(
            "muse-wonder-1.0", MESSAGES, api_key=key
        ):
            pass


async def test_an_answer_cut_by_the_output_limit_is_not_a_short_answer(fake_env):
    fake_env.api_key = key = "LLM|1|" + secrets.token_hex(8)
    fake_env.scenario = "length_after_text"
    fake_env.answers.append(FakeAnswer("def f(x):\n    return [x for x in range(10)]\n"))
    received: list[str] = []
    with pytest.raises(OutputLimitError, match=r"output limit \(32768 tokens\) after \d+ char"):
        async for chunk in MetaModelAPI.create_async_generator("", MESSAGES, api_key=key):
            received.append(chunk)
    assert received  # what came is not passed off as the whole answer


def test_usage_chunks_and_null_content_are_read():
    from metaai_ls.provider.api import _choice

    assert _choice(b'{"choices":[{"delta":{"content":"ab"}}]}', None) == ("ab", None)
    assert _choice(b'{"choices":[{"delta":{"content":null},"finish_reason":"length"}]}', None) == (
        "",
        "length",
    )
    assert _choice(b'{"choices":[],"usage":{"total_tokens":3}}', "length") == ("", "length")


@pytest.mark.parametrize("variable", ["META_API_KEY", "META_MODEL_API_KEY"])
async def test_the_key_is_read_from_the_names_other_tools_use(fake_env, monkeypatch, variable):
    from metaai_ls.provider import api_key_from

    fake_env.api_key = key = "LLM|2|" + secrets.token_hex(8)
    monkeypatch.setenv(variable, key)
    assert api_key_from() == (key, variable)
    chunks = [c async for c in MetaModelAPI.create_async_generator("", MESSAGES)]
    assert "".join(chunks).startswith("Meta AI (offline fake) read")
    monkeypatch.setenv("METAAI_API_KEY", "first-" + key)
    assert api_key_from()[1] == "METAAI_API_KEY"  # ours before the other tools' names


async def test_models_of_the_account_are_the_names_users_type(fake, cookie_file):
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "metaai_ls", "models"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert (process.returncode, out.decode()) == (0, "fast\nthinking\n"), err


async def test_wonder_is_offered_and_answers(fake_env):
    fake_env.api_key = key = "LLM|3|" + secrets.token_hex(8)
    async with MetaModelAPI(api_key=key) as client:
        assert "muse-wonder-1.0" in await client.list_models()
    conversation = Conversation()
    chunks = [
        c
        async for c in MetaModelAPI.create_async_generator(
            "muse-wonder-1.0", MESSAGES, api_key=key, conversation=conversation
        )
    ]
    assert chunks and fake_env.sent_messages()[-1].fields["model"] == "muse-wonder-1.0"


def test_every_scenario_can_be_named_by_a_marker_in_a_prompt():
    from metaai_ls.testing.fake_meta import MARKER, SCENARIOS

    for name in SCENARIOS:
        assert MARKER.search(f"say [[fake:{name}]] hi").group(1) == name

"""The Meta Model API (API key) door: the provider, the CLI and the language server
against the fake's /v1, over real sockets. No key may appear in any output."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

import pytest
from pytest_lsp import client_capabilities

from metaai_ls.provider import (
    AnswerCutOffError,
    ApiKeyError,
    ConfigError,
    Conversation,
    MetaModelAPI,
    RateLimitedError,
    api_key_from,
)
from metaai_ls.testing import FakeAnswer
from tests.lsp import CODE, settings_for, start_client, stop_client, wait_until
from tests.test_cli import run_ask

ANSWER = "Hello 👋 wörld!\r\n```python\nprint('日本語')\n```\nThat's all. 🎉"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def api_key(fake_env, tmp_path) -> str:
    key = "sk-meta-" + secrets.token_hex(12)
    fake_env.api_key = key
    return key


async def collect(api_key: str | None, model: str = "muse-spark-1.3", **kwargs) -> list:
    return [
        chunk
        async for chunk in MetaModelAPI.create_async_generator(
            model, MESSAGES, api_key=api_key, **kwargs
        )
    ]


async def test_exact_deltas_from_server_sent_events(fake_env, api_key):
    fake_env.answers.append(FakeAnswer(ANSWER))
    chunks = await collect(api_key)
    assert all(isinstance(c, str) and c for c in chunks)
    assert "".join(chunks) == ANSWER
    (sent,) = fake_env.sent_messages()
    assert sent.dialect == "api"
    assert sent.fields == {
        "model": "muse-spark-1.3",
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 32768,  # an explicit output cap (protocol page §4)
    }


async def test_the_key_comes_from_the_environment_then_a_file(
    fake_env, api_key, monkeypatch, tmp_path
):
    monkeypatch.setenv("METAAI_API_KEY", api_key)
    assert await collect(None)
    assert api_key_from() == (api_key, "METAAI_API_KEY")
    monkeypatch.setenv("MODEL_API_KEY", api_key)
    assert api_key_from()[1] == "MODEL_API_KEY"
    path = tmp_path / "key"
    path.write_text(api_key + "\n")
    assert api_key_from(str(path)) == (api_key, str(path))


async def test_no_key_and_a_refused_key_are_login_errors(fake_env, api_key, monkeypatch):
    with pytest.raises(ApiKeyError, match="No Meta Model API key"):
        await collect(None)
    with pytest.raises(ApiKeyError, match="refused the API key") as raised:
        await collect("sk-wrong-" + secrets.token_hex(8))
    assert "sk-wrong" not in str(raised.value)


async def test_rate_limit_says_how_long_to_wait(fake_env, api_key):
    fake_env.scenario = "rate_limited"
    with pytest.raises(RateLimitedError, match=r"this API key .* after 30 seconds"):
        await collect(api_key)


async def test_a_stream_without_done_is_cut_off(fake_env, api_key):
    fake_env.scenario = "cut"
    fake_env.answers.append(FakeAnswer(ANSWER))
    with pytest.raises(AnswerCutOffError, match="cut off after"):
        await collect(api_key)


async def test_an_unknown_model_lists_the_models_offered(fake_env, api_key):
    with pytest.raises(ConfigError, match=r"no model 'llama-9'.*muse-spark-1\.3"):
        await collect(api_key, model="llama-9")


async def test_the_conversation_keeps_the_turns(fake_env, api_key):
    conversation = Conversation()
    fake_env.answers.extend([FakeAnswer("first"), FakeAnswer("second")])
    await collect(api_key, conversation=conversation)
    await collect(api_key, conversation=conversation)
    second = fake_env.sent_messages()[1].fields["messages"]
    assert second == [*MESSAGES, {"role": "assistant", "content": "first"}, *MESSAGES]
    assert conversation.turns == 2


async def test_cli_backend_api_and_models(fake_env, api_key, cookie_file, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(api_key)
    fake_env.answers.append(FakeAnswer(ANSWER))
    code, out, err = await run_ask(
        fake_env, cookie_file, "--backend", "api", "--api-key-file", str(key_file), "hi"
    )
    assert (code, out) == (0, ANSWER + "\n"), err
    assert api_key not in out + err
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        "models",
        "--backend",
        "api",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **fake_env.environment(), "MODEL_API_KEY": api_key},
    )
    out_bytes, _ = await asyncio.wait_for(process.communicate(), 30)
    assert out_bytes.decode().split() == sorted(fake_env.api_models)


@pytest.mark.parametrize("client_name", ["neovim", "visual_studio_code"])
async def test_the_server_answers_through_the_api(fake, cookie_file, tmp_path, client_name):
    key = "sk-meta-" + secrets.token_hex(12)
    fake.api_key = key
    key_file = tmp_path / "key"
    key_file.write_text(key)
    settings = settings_for(
        fake, cookie_file, backend="api", apiUrl=fake.api_url, apiKeyFile=str(key_file)
    )
    client = await start_client(client_capabilities(client_name), settings, str(tmp_path))
    try:
        fake.answers.append(FakeAnswer("Here:\n```python\ndef double(x):\n    return 2 * x\n```"))
        doc = client.open("file:///w/api.py", CODE)
        start = CODE.index("def double")
        end = CODE.index("\nprint")
        result = await client.ask(
            uri=doc.uri, range=client.range_of(doc.uri, start, end), prompt="better", mode="replace"
        )
        assert "error" not in result, result
        await wait_until(lambda: "2 * x" in client.documents[doc.uri].text)
        assert (
            client.documents[doc.uri].text
            == CODE[:start] + "def double(x):\n    return 2 * x\n" + CODE[end:]
        )
        assert fake.sent_messages()[0].dialect == "api"
        fake.scenario = "bad_key"
        failed = await client.ask(uri=doc.uri, prompt="again", mode="chat")
        assert "refused the API key" in failed["error"]
        assert all(key not in m.message for m in client.messages)
        assert all(key not in m.message for m in client.log_messages)
    finally:
        await stop_client(client)


async def test_doctor_checks_the_key(fake_env, api_key, monkeypatch):
    from metaai_ls.provider.doctor import DoctorOptions, report

    monkeypatch.setenv("MODEL_API_KEY", api_key)
    ok, steps = await report(DoctorOptions(backend="api", send=True))
    assert ok and [s.name for s in steps] == ["API key", "models", "model", "answer"]
    assert "from MODEL_API_KEY" in steps[0].detail
    monkeypatch.setenv("MODEL_API_KEY", "sk-bad")
    ok, steps = await report(DoctorOptions(backend="api"))
    assert not ok and steps[-1].name == "models" and "refused" in steps[-1].help
    assert all(api_key not in s.line() and "sk-bad" not in s.line() for s in steps)


async def test_keep_alives_after_some_text_do_not_keep_an_answer_alive(fake_env, api_key):
    """Issue 16 #11 on the API door: SSE comments and empty deltas are not answer text."""
    fake_env.scenario = "ping_flood"  # the fake sends keep-alives for a minute
    fake_env.answers.append(FakeAnswer(ANSWER))
    started = asyncio.get_running_loop().time()
    with pytest.raises(AnswerCutOffError, match="cut off after 12 characters"):
        await collect(api_key, read_timeout=0.5)
    assert asyncio.get_running_loop().time() - started < 10


async def test_the_whole_ask_has_a_deadline_on_the_api_door_too(fake_env, api_key):
    from metaai_ls.provider import AskTimeoutError

    fake_env.scenario = "ping_flood"
    fake_env.answers.append(FakeAnswer(ANSWER))
    started = asyncio.get_running_loop().time()
    with pytest.raises(AskTimeoutError, match="METAAI_ASK_TIMEOUT"):
        await collect(api_key, read_timeout=30, ask_timeout=1)
    assert asyncio.get_running_loop().time() - started < 10

"""The provider's Abra dialect (g4f's) against the local fake Meta AI, over real sockets.
The gateway dialect, today's, is tested in test_gateway.py."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from metaai_ls.provider import (
    ConnectionFailedError,
    Conversation,
    ImageResponse,
    LoginRequiredError,
    MetaAI,
    MetaAIAccount,
    MetaAITimeoutError,
    ProxyConfigError,
    ResponseErrorsError,
    Sources,
)
from metaai_ls.testing import FakeAnswer, FakeMetaAI
from tests.conftest import SECRET_SESSION, assert_no_secret


@pytest.fixture
def fake(abra_fake: FakeMetaAI) -> FakeMetaAI:
    return abra_fake


@pytest.fixture
def cookies(abra_cookies):
    return abra_cookies


ANSWER = "Hello 👋 wörld!\r\nHere is code:\n```python\nprint('日本語')\n```\nThat's all. 🎉"
MESSAGES = [{"role": "user", "content": "Say hello"}]


async def collect(cookies, **kwargs) -> list:
    return [
        chunk
        async for chunk in MetaAIAccount.create_async_generator(
            model="default", messages=MESSAGES, cookies=cookies, **kwargs
        )
    ]


async def test_account_request_carries_tokens_cookies_and_protocol_fields(fake_env, cookies):
    await collect(cookies)
    home, send = fake_env.requests
    assert home.path == "/" and home.cookies == cookies
    assert send.path == "/api/graphql/"
    assert send.cookies == cookies
    assert send.headers["x-fb-lsd"] == "fake-lsd-token"
    assert send.headers["x-fb-friendly-name"] == "useAbraSendMessageMutation"
    assert send.form["lsd"] == "fake-lsd-token" and send.form["fb_dtsg"] == "fake-dtsg-token"
    assert send.form["doc_id"] == "7783822248314888"
    assert send.form["fb_api_caller_class"] == "RelayModern"
    assert send.form["server_timestamps"] == "true"
    variables = send.variables
    assert variables["message"] == {"sensitive_string_value": "Say hello"}
    assert variables["entrypoint"] == "ABRA__CHAT__TEXT"
    assert variables["flashVideoRecapInput"] == {"images": []}
    assert int(variables["offlineThreadingId"]) >> 22 > 1_600_000_000_000


async def test_anonymous_user_accepts_terms_then_uses_the_graph_host(fake_env):
    chunks = [c async for c in MetaAI.create_async_generator("default", MESSAGES)]
    assert "".join(chunks).startswith("Meta AI (offline fake) read 9 characters")
    names = [(r.path, r.friendly_name) for r in fake_env.requests]
    assert names == [
        ("/", None),
        ("/api/graphql/", "useAbraAcceptTOSForTempUserMutation"),
        ("/graphql", "useAbraSendMessageMutation"),
    ]
    send = fake_env.requests[-1]
    assert send.form["access_token"] == "fake-temp-user-token" and "lsd" not in send.form
    assert send.cookies == {
        "_js_datr": "fake-js-datr",
        "abra_csrf": "fake-csrf",
        "datr": "fake-datr",
    }


async def test_follow_up_reuses_the_conversation(fake_env, cookies):
    conversation = Conversation()
    await collect(cookies, conversation=conversation)
    await collect(cookies, conversation=conversation)
    await collect(cookies)
    ids = [m.conversation_id for m in fake_env.sent_messages()]
    assert ids[0] == ids[1] == conversation.id and ids[2] != ids[0]


async def test_sources_and_images_render_as_markdown(fake_env, cookies):
    fake_env.scenario = "sources"
    chunks = await collect(cookies)
    assert isinstance(chunks[-1], Sources)
    assert str(chunks[-1]).endswith("- [PEP 8](https://peps.python.org/pep-0008/)")
    lookup = fake_env.requests[-1]
    assert lookup.friendly_name == "AbraSearchPluginDialogQuery"
    assert lookup.variables["abraMessageFetchID"].startswith("fake-fetch-")
    fake_env.scenario = "image"
    chunks = await collect(cookies)
    assert isinstance(chunks[-1], ImageResponse)
    assert str(chunks[-1]) == "\n\n![a fake cat](https://example.invalid/fake-image.jpg)"


@pytest.mark.parametrize("scenario", ["garbage", "slow_first_byte"])
async def test_noise_and_delays_do_not_change_the_answer(fake_env, cookies, scenario):
    fake_env.scenario = scenario
    fake_env.answers.append(FakeAnswer(ANSWER))
    assert "".join(await collect(cookies)) == ANSWER


async def test_cookies_without_a_login_are_refused_before_any_request(fake_env):
    with pytest.raises(LoginRequiredError, match="no `ecto_1_sess` or `abra_sess` cookie"):
        await collect({"datr": "x"})
    assert fake_env.requests == []


async def test_read_timeout(fake_env, cookies):
    fake_env.scenario = "hang"
    with pytest.raises(MetaAITimeoutError, match=r"0\.2 seconds"):
        await collect(cookies, read_timeout=0.2)


async def test_connection_refused(cookies, unused_tcp_port):
    url = f"http://127.0.0.1:{unused_tcp_port}"
    with pytest.raises(ConnectionFailedError, match=f"127.0.0.1:{unused_tcp_port}"):
        await collect(cookies, url=url, graph_url=url)


async def test_a_port_that_accepts_and_never_answers(cookies):
    connections = []

    async def accept(reader, writer):
        connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(MetaAITimeoutError):
            await collect(cookies, url=url, read_timeout=0.2)
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert connections


@pytest.mark.parametrize("proxy", ["not a url", "ftp://127.0.0.1:21", "http://"])
async def test_bad_proxy_is_a_configuration_error_without_echoing_it(fake_env, cookies, proxy):
    with pytest.raises(ProxyConfigError) as error:
        await collect(cookies, proxy=proxy)
    assert proxy not in str(error.value) or proxy == "http://"


async def test_http_proxy_carries_the_requests(fake_env, cookies, monkeypatch):
    # The fake understands absolute-URI requests, so it can stand in as the proxy.
    monkeypatch.setenv("METAAI_URL", "http://meta.invalid")
    chunks = await collect(cookies, proxy=fake_env.url)
    assert "".join(chunks).startswith("Meta AI (offline fake)")
    assert {r.host for r in fake_env.requests} == {"meta.invalid"}


async def test_identifiers_come_from_one_overridable_place(
    fake_env, cookies, tmp_path, monkeypatch
):
    fake_env.send_doc_id = "1234"
    with pytest.raises(ResponseErrorsError, match="PersistedQueryNotFound"):
        await collect(cookies)
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"abra": {"send_message_doc_id": "1234"}}))
    monkeypatch.setenv("METAAI_IDENTIFIERS", str(path))
    assert await collect(cookies)
    monkeypatch.delenv("METAAI_IDENTIFIERS")
    assert await collect(cookies, identifiers={"abra": {"send_message_doc_id": "1234"}})


async def test_logs_never_hold_cookie_values(fake_env, cookies, caplog):
    caplog.set_level(logging.DEBUG)
    fake_env.scenario = "sources"
    await collect(cookies)
    assert caplog.records  # something was logged
    assert_no_secret(caplog.text)
    assert SECRET_SESSION in fake_env.requests[-1].cookies.values()  # yet it was sent

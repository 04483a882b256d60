"""Secrets in settings never reach a log line, whoever writes it (pygls logs whole
messages at INFO/DEBUG, settings included)."""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import secrets
import urllib.parse

import pytest
from pytest_lsp import client_capabilities

from metaai_ls.redact import MAX_SECRETS, RedactingFilter, redact, remember
from tests.conftest import SECRETS
from tests.lsp import settings_for, start_client, stop_client
from tests.test_cli import run_ask


def test_passwords_keys_and_tokens_are_blanked():
    text = redact('{"proxy": "http://me:hunter2@proxy:3128"} Bearer sk-123 ecto1:AbC-_9 ok')
    assert text == '{"proxy": "http://me:***@proxy:3128"} Bearer *** ecto1:*** ok'


async def test_a_proxy_password_in_settings_is_not_on_stderr(fake, cookie_file, tmp_path, capfd):
    password = "pw-" + secrets.token_hex(8)
    proxy = f"http://user:{password}@127.0.0.1:9"
    client = await start_client(
        client_capabilities("visual_studio_code"),
        settings_for(fake, cookie_file, proxy=proxy),
        str(tmp_path),
    )
    doc = client.open("file:///w/r.py", "x = 1\n")
    result = await client.ask(uri=doc.uri, prompt="hi", mode="chat")
    await stop_client(client)
    out, err = capfd.readouterr()
    assert "error" in result  # the proxy does not exist
    assert "user:***@" in err  # the settings were logged, blanked
    for text in (out, err, result["error"], *(m.message for m in client.log_messages)):
        assert password not in text


# -- the registry of secrets (issue 16 #8)


def test_remembered_values_are_blanked_in_every_form():
    value = "v4lue/with+symbols=" + secrets.token_hex(8)
    remember(value)
    quoted = urllib.parse.quote(value, safe="")
    assert redact(f"a {value} b {quoted} c") == "a *** b *** c"
    assert redact(json.dumps({"cookie": value})) == '{"cookie": "***"}'


def test_short_values_and_plain_words_are_not_secrets():
    for word in ("solved", "1", "en_US", "accepted"):
        remember(word)
    assert redact("challenge solved, en_US accepted 1") == "challenge solved, en_US accepted 1"


def test_the_registry_is_bounded_and_keeps_the_newest():
    first = "old-" + secrets.token_hex(8)
    remember(first)
    newest = [f"new-{i}-" + secrets.token_hex(8) for i in range(MAX_SECRETS)]
    for value in newest:
        remember(value)
    assert redact(first) == first
    assert redact(newest[-1]) == "***"


def test_remembering_from_many_threads_at_once():
    values = ["t-" + secrets.token_hex(8) for _ in range(64)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(remember, values))
    assert redact(" ".join(values)) == " ".join(["***"] * 64)


def test_the_log_filter_blanks_messages_and_tracebacks():
    value = "tb-" + secrets.token_hex(8)
    remember(value)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"boom {value}")
        except ValueError:
            logger.error("failed with %s", value, exc_info=True)
    finally:
        logger.removeHandler(handler)
    assert "failed with ***" in stream.getvalue() and "ValueError: boom ***" in stream.getvalue()
    assert value not in stream.getvalue()


def issued_tokens(fake) -> list[str]:
    """Every access token the fake gave out, raw and as its error text echoes it."""
    return [form for t in fake.tokens for form in (t, urllib.parse.quote(t, safe=""))]


def assert_none_in(texts, values) -> None:
    for text in texts:
        for value in values:
            assert value not in text, "a secret leaked"


@pytest.mark.parametrize("backend", ["account", "api"])
async def test_an_error_echoing_the_request_never_reaches_stderr(
    fake, cookie_file, tmp_path, backend
):
    key = "LLM|1234|" + secrets.token_hex(12)
    fake.api_key = key
    env = {"MODEL_API_KEY": key, "METAAI_LOG_LEVEL": "DEBUG"}
    code, out, err = await run_ask(
        fake, cookie_file, "--backend", backend, "[[fake:leaky_error]] hi", env=env
    )
    echoed = "Invalid request (Cookie: ecto_1_sess=***" if backend == "account" else "key ***"
    assert code != 0 and echoed in err and "Traceback" not in err
    assert_none_in([out, err], [*SECRETS, key, *issued_tokens(fake)])
    assert backend == "api" or issued_tokens(fake)


async def test_an_error_echoing_the_request_never_reaches_the_editor(
    fake, cookie_file, tmp_path, capfd
):
    client = await start_client(
        client_capabilities("visual_studio_code"), settings_for(fake, cookie_file), str(tmp_path)
    )
    doc = client.open("file:///w/r.py", "x = 1\n")
    result = await client.ask(uri=doc.uri, prompt="[[fake:leaky_error]] hi", mode="chat")
    await stop_client(client)
    out, err = capfd.readouterr()
    assert "Invalid request (Cookie: ecto_1_sess=***" in result["error"]
    shown = [m.message for m in client.messages] + [m.message for m in client.log_messages]
    assert any("Invalid request" in m for m in shown)
    assert_none_in([out, err, result["error"], *shown], [*SECRETS, *issued_tokens(fake)])
    assert "Invalid request" in err  # the DEBUG log has it, blanked

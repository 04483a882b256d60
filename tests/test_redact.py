"""Secrets in settings never reach a log line, whoever writes it (pygls logs whole
messages at INFO/DEBUG, settings included)."""

from __future__ import annotations

import secrets

from pytest_lsp import client_capabilities

from metaai_ls.redact import redact
from tests.lsp import settings_for, start_client, stop_client


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

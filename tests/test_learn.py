"""`metaai-ls learn CAPTURE.har`: a capture the tests make themselves from the fake in a
changed mode (``profiles.DRIFTED``) teaches the CLI and the server the new client; broken
captures get their sentences; nothing of a secret is kept or shown."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from metaai_ls.provider.identifiers import learned_path
from metaai_ls.provider.learn import run
from metaai_ls.testing import FakeAnswer, browser
from metaai_ls.testing.profiles import DRIFTED
from tests.conftest import SECRET_SESSION, assert_no_secret
from tests.lsp import CODE, settings_for, start_client, stop_client
from tests.test_cli import run_ask, run_cli

FIRST = (("metaai-ls learn", "And?"),)


async def run_learn(*args: str) -> tuple[int, str, str]:
    return await run_cli("learn", *args, env={"METAAI_LOG_LEVEL": "DEBUG"})


async def drifted_capture(fake, cookies, tmp_path: Path, sanitized=False, turns=FIRST) -> Path:
    fake.profile = DRIFTED
    recorder = await browser.capture(fake.url, fake.gateway_url, cookies, fake.profile, turns, True)
    fake.messages.clear()
    return browser.save(recorder, tmp_path / "www.meta.ai.har", sanitized)


def assert_nothing_secret(fake, *texts: str) -> None:
    assert_no_secret(*texts)
    for token in fake.tokens:  # every access token the fake's pages and sockets carried
        for text in texts:
            assert token not in text and token.split(":", 1)[1][:40] not in text


async def test_a_drifted_client_then_learn_then_ask_and_follow_up(
    fake, cookies, cookie_file, tmp_path
):
    fake.profile = DRIFTED
    code, _, err = await run_ask(fake, cookie_file, "hi")
    assert code == 6 and "Meta changed its web client" in err and "metaai-ls learn FILE.har" in err
    assert "log in" not in err.lower() and "expired" not in err  # a changed page, not a login

    capture = await drifted_capture(fake, cookies, tmp_path)
    code, report, learn_err = await run_learn(str(capture))
    assert code == 0, learn_err
    for name in (
        "web.access_token_pattern",
        "gateway.app_id",
        "gateway.query",
        "gateway.open_payload",
        "gateway.warmup_doc_id",
        "gateway.mode_doc_id",
        "gateway.message",
        "gateway.branch_path_follow_up",
    ):
        assert name in report, report
    assert "x-dgw-app-build=c0ffee42" in report and "1.1.5.6.1" in report and "1.7.14" in report

    written = learned_path()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    learned = written.read_text()
    assert json.loads(learned)["gateway"]["app_id"] == DRIFTED.app_id

    fake.answers.extend([FakeAnswer("Learnt: hello 👋"), FakeAnswer("And a follow-up.")])
    code, first, err_first = await run_ask(fake, cookie_file, "hi")
    assert (code, first) == (0, "Learnt: hello 👋\n"), err_first
    code, second, err_second = await run_ask(fake, cookie_file, "--continue", "and?")
    assert (code, second) == (0, "And a follow-up.\n"), err_second
    sent = fake.sent_messages()
    assert sent[0].conversation_id == sent[1].conversation_id  # the same Meta conversation
    assert sent[0].fields["branch_path"] == "0" and sent[1].fields["branch_path"] == "2"
    assert sent[1].fields["entry_point"] == DRIFTED.entry_point_follow_up
    assert_nothing_secret(fake, learned, report, learn_err, first, err_first, second, err_second)
    assert SECRET_SESSION in capture.read_text()  # the capture held them all
    folders = (tmp_path / "config", tmp_path / "state")
    kept = [p.read_text(errors="replace") for f in folders for p in f.rglob("*") if p.is_file()]
    assert len(kept) >= 2  # the learned values and the history
    assert_nothing_secret(fake, *kept)  # nothing under the config and state folders


async def test_the_server_learns_asks_in_chat_mode_and_forgets(
    fake, cookies, cookie_file, tmp_path
):
    capture = await drifted_capture(fake, cookies, tmp_path, sanitized=True)
    client = await start_client(
        client_capabilities("visual_studio_code"),
        settings_for(fake, cookie_file),
        str(tmp_path),
        env={"XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]},
    )
    try:
        uri = (tmp_path / "sample.py").as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, CODE))
        )
        result = await execute(client, "metaai.learn", {})
        assert result["ok"] is False and "forget" in result["report"]
        result = await execute(client, "metaai.learn", {"file": str(capture)})
        assert result["ok"] is True and "gateway.app_id" in result["report"], result
        fake.answers.append(FakeAnswer("Through the server."))
        answer = await execute(
            client, "metaai.ask", {"uri": uri, "prompt": "explain", "mode": "chat"}
        )
        assert answer["text"] == "Through the server."
        result = await execute(client, "metaai.learn", {"forget": True})
        assert result["ok"] is True and result["report"].startswith("Removed")
        assert not learned_path().exists()
        assert_nothing_secret(fake, json.dumps(result))
    finally:
        await stop_client(client)


async def execute(client, command: str, argument: dict):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[argument])
    )


async def test_learning_the_built_in_client_writes_nothing_new(fake, cookies, tmp_path):
    learned_path().parent.mkdir(parents=True)
    learned_path().write_text('{"gateway": {"app_id": "1"}}')  # learnt earlier
    recorder = await browser.capture(fake.url, fake.gateway_url, cookies, fake.profile, FIRST, True)
    ok, report = run(str(browser.save(recorder, tmp_path / "today.har")))
    assert ok and "nothing differs from the built-in values" in report, report
    assert "Nothing written (the values learnt earlier are removed)" in report
    assert not learned_path().exists()


async def test_learn_in_the_editor_then_forget_then_forget_again(fake, cookies, tmp_path):
    capture = await drifted_capture(fake, cookies, tmp_path)
    code, _, _ = await run_learn(str(capture))
    assert code == 0 and learned_path().exists()
    code, out, _ = await run_learn("--forget")
    assert code == 0 and out.startswith("Removed") and not learned_path().exists()
    code, out, _ = await run_learn("--forget")
    assert code == 0 and out.startswith("Nothing to forget")


# -- captures that do not hold what learning needs


def _edit(capture: Path, change) -> Path:
    har = json.loads(capture.read_text())
    change(har["log"]["entries"])
    capture.write_text(json.dumps(har))
    return capture


def _firefox(entries):
    for entry in entries:
        entry.pop("_webSocketMessages", None)


def _no_data_frame(entries):
    for entry in entries:
        messages = entry.get("_webSocketMessages") or []
        entry["_webSocketMessages"] = [
            m for m in messages if not (m["type"] == "send" and m["data"].startswith("DQ"))
        ]


def _another_site(entries):
    entries[:] = [e for e in entries if "static.example" in e["request"]["url"]]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_firefox, "no WebSocket messages (Firefox saves none)"),
        (_no_data_frame, "no message sent on it"),
        (_another_site, "is of static.example, not of meta.ai"),
    ],
)
async def test_a_capture_missing_a_part_says_what(fake, cookies, tmp_path, change, words):
    capture = _edit(await drifted_capture(fake, cookies, tmp_path), change)
    code, out, err = await run_learn(str(capture))
    assert code == 2 and out == "" and words in err, err
    assert err.count("\n") == 1 and not learned_path().exists()
    assert_nothing_secret(fake, err)


@pytest.mark.parametrize(
    ("turns", "new_chat", "words"),
    [
        ((("hello",),), True, "is 'metaai-ls learn': start a new chat"),
        ((("metaai-ls learn",), ("metaai-ls learn",)), True, "holds 2 chats"),
        ((("metaai-ls learn",),), False, "sent in an earlier chat"),
        ((("hello", "metaai-ls learn"),), True, "was sent as a follow-up"),
    ],
)
async def test_the_question_must_open_one_new_chat(fake, cookies, tmp_path, turns, new_chat, words):
    fake.profile = DRIFTED
    recorder = await browser.capture(fake.url, fake.gateway_url, cookies, DRIFTED, turns, new_chat)
    ok, report = run(str(browser.save(recorder, tmp_path / "c.har")))
    assert not ok and words in report, report
    assert_nothing_secret(fake, report)


async def test_two_chats_learn_from_the_one_with_the_question(fake, cookies, tmp_path):
    turns = (("hello", "more"), ("metaai-ls learn",))
    fake.profile = DRIFTED
    recorder = await browser.capture(fake.url, fake.gateway_url, cookies, DRIFTED, turns, True)
    ok, report = run(str(browser.save(recorder, tmp_path / "c.har")), question="metaai-ls learn")
    assert ok and "gateway.app_id" in report and "one message" in report, report
    ok, report = run(str(browser.save(recorder, tmp_path / "c.har")), question="hello")
    assert ok and "a first message and a follow-up" in report, report


def _huge(path: Path) -> Path:
    path.touch()
    os.truncate(path, 300 << 20)  # sparse: no disk taken
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_text("<html>not json</html>"), p)[1], "is not a HAR file (not JSON"),
        (lambda p: (p.write_text('{"log": {}}'), p)[1], "is not a HAR file (no log.entries)"),
        (lambda p: (p.write_text("[" * 100_000), p)[1], "is not a HAR file"),
        (lambda p: (p.mkdir(), p)[1], "is a directory"),
        (_fifo, "is not a regular file"),
        (_huge, "is larger than 256 MiB"),
    ],
)
async def test_a_broken_file_is_a_sentence(tmp_path, make, words):
    path = make(tmp_path / "capture.har")
    code, _, err = await run_learn(str(path))
    assert code == 2 and words in err and "Traceback" not in err, err
    assert err.count("\n") == 1


async def test_a_learned_file_gone_wrong_names_learn(fake_env, cookie_file, cookies, tmp_path):
    path = learned_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"gateway": {"no_such_key": 1}}')
    code, _, err = await run_ask(fake_env, cookie_file, "hi")
    assert code == 2 and "metaai-ls learn --forget" in err and str(path) in err


@pytest.mark.parametrize("changed", ["page", "handshake"])
async def test_doctors_failing_step_says_how_to_learn(
    fake, cookies, cookie_file, tmp_path, changed
):
    from tests.test_doctor import run_doctor

    fake.profile = DRIFTED
    if changed == "handshake":  # the page learnt, the gateway not yet: the handshake fails
        page = '{"web": {"access_token_pattern": "\\"sessionToken\\":\\"(ecto1:[^\\"]+)"}}'
        learned_path().parent.mkdir(parents=True)
        learned_path().write_text(page)
    code, out, _ = await run_doctor(fake, cookie_file)
    failed = out.split("✗ ", 1)[1]
    assert code == 1 and "Meta changed its web client" in failed, out
    assert "metaai-ls learn FILE.har" in failed and "doctor" not in failed.split("\n", 1)[1]
    assert ("dialect" if changed == "page" else "gateway") in failed.split(":")[0]


def test_a_captured_message_decodes_to_rows_that_give_its_bytes_back():
    from metaai_ls.provider import protowire
    from metaai_ls.provider.learn_message import Turn, decode_rows, template

    conversation, request = (
        "6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c",
        "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b",
    )
    rows = [
        ["1.1.1", "string", "KADABRA__HOME__UNIFIED_INPUT_BAR"],
        ["1.1.9.2", "string", conversation],
        ["1.2", "float", 1.5],
        ["1.3", "fixed64", 7],
        ["1.4", "string", ""],
        ["1.5", "bytes", "0301"],
        ["1.6", "message", [["1", "string", "stocks"], ["2.1", "varint", 1]]],
        ["1.6", "message", [["1", "string", "weather"], ["2.1", "varint", 1]]],
        ["1.7", "varint", 1_764_000_000_123],
        ["1.8", "string", request],
        ["2.2", "string", "line one\nline two 👋"],
    ]
    data = protowire.build(rows, {})
    decoded = decode_rows(data, frozenset([b"line one\nline two \xf0\x9f\x91\x8b"]))
    assert protowire.build(decoded, {}) == data
    turn = Turn(decoded, conversation, request, "line one\nline two 👋", 1_764_000_000_000)
    learnt = template(turn, [["1.1.1", "string", "{entry_point}"]], "0", {})
    named = {row[0]: row[2] for row in learnt.rows}
    assert named["1.1.9.2"] == "{conversation_id}" and named["1.8"] == "{request_id}"
    assert named["2.2"] == "{prompt}" and named["1.7"] == "{now_ms}" and named["1.4"] == ""
    assert named["1.1.1"] == "{entry_point}" and learnt.learnt["entry_point_new"].startswith(
        "KADABRA"
    )
    assert named["1.5"] == "0301" and named["1.2"] == 1.5


async def test_a_renamed_token_parameter_is_learnt_by_where_the_page_has_it(
    fake, cookies, cookie_file, tmp_path
):
    import dataclasses

    query = {("x-dgw-auth" if k == "Authorization" else k): v for k, v in DRIFTED.query.items()}
    page = DRIFTED.page.replace("});", '}); var app="' + DRIFTED.app_id + '";')
    fake.profile = dataclasses.replace(DRIFTED, query=query, page=page)
    recorder = await browser.capture(fake.url, fake.gateway_url, cookies, fake.profile, FIRST, True)
    ok, report = run(str(browser.save(recorder, tmp_path / "c.har", True)))
    assert ok, report
    learned = json.loads(learned_path().read_text())["gateway"]["query"]
    assert learned["x-dgw-auth"] == "{access_token}" and learned["Authorization"] is None
    fake.answers.append(FakeAnswer("Still fine."))
    code, out, err = await run_ask(fake, cookie_file, "hi")
    assert (code, out) == (0, "Still fine.\n"), err

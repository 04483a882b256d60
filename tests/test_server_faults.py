"""Faults, cancellation and the user's typing while an answer streams: nothing is lost,
the document is never half-written, and the server keeps serving."""

from __future__ import annotations

import asyncio
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled

from metaai_ls.testing import FakeAnswer
from tests.lsp import (
    CODE,
    progress_of,
    server_caught_up,
    settings_for,
    start_client,
    stop_client,
    wait_until,
)

NEW_BODY = "".join(f"    step_{n} = {n}  # 中 😀\n" for n in range(40)) + "    return 2 * x\n"
ANSWER = f"```python\ndef double(x):\n{NEW_BODY}```\nDone."
REPLACED = CODE.replace("def double(x):\n    return x+x  # 🎉\n", f"def double(x):\n{NEW_BODY}")


def whole_function(client, uri):
    text = client.documents[uri].text
    start = text.index("def double")
    return client.range_of(uri, start, text.index("\n\nprint") + 1)


async def ask_replace(client, uri):
    return await client.ask(uri=uri, range=whole_function(client, uri), prompt="p", mode="replace")


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("error_page", "Something Went Wrong"),
        ("errors_line", "field_exception"),
        ("unauthorized", "did not accept your login"),
        ("forbidden", "HTTP 403"),
        ("rate_limited", "rate limiting"),
        ("geo", "not available in your country"),
        ("cut", "cut off after"),
        ("reset", "cut off after"),
        ("hang", "did not answer within 2 seconds"),
    ],
)
async def test_every_fault_is_shown_ends_progress_and_leaves_the_document(
    client, fake, scenario, words
):
    fake.scenario, fake.chunk_size, fake.interval = scenario, 5, 0.005
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    result = await ask_replace(client, doc.uri)
    assert doc.text == CODE
    assert words in result["error"]
    (shown,) = [m for m in client.messages if m.type == types.MessageType.Error]
    assert shown.message == "Meta AI: " + result["error"]
    assert any(words in m.message for m in client.log_messages)
    values = progress_of(client)
    assert isinstance(values[-1], types.WorkDoneProgressEnd) and values[-1].message == "Failed"
    if scenario in ("cut", "reset", "errors_line"):
        assert client.applied_edits, "part of the answer had been written, then taken back"
    fake.scenario = "ok"
    fake.answers.append(FakeAnswer(ANSWER))
    assert (await ask_replace(client, doc.uri))["text"] == ANSWER
    assert doc.text == REPLACED


async def test_connection_refused_and_a_silent_port(fake, cookie_file, tmp_path, unused_tcp_port):
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    silent_url = f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
    refused_url = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        for url, words in (
            (refused_url, "Could not reach Meta AI"),
            (silent_url, "did not answer"),
        ):
            client = await start_client(
                __import__("pytest_lsp").client_capabilities("visual_studio_code"),
                settings_for(fake, cookie_file, url=url, graphUrl=url),
                str(tmp_path),
            )
            try:
                doc = client.open("file:///w/a.py", CODE)
                result = await ask_replace(client, doc.uri)
                assert words in result["error"] and doc.text == CODE
            finally:
                await stop_client(client)
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert accepted, "the silent port was really tried"


async def test_bad_cookie_file_setting_is_an_error_naming_the_file(fake, cookie_file, tmp_path):
    cookie_file.write_bytes(b"\x00garbage")
    client = await start_client(
        __import__("pytest_lsp").client_capabilities("neovim"),
        settings_for(fake, cookie_file),
        str(tmp_path),
    )
    try:
        doc = client.open("file:///w/a.py", CODE)
        result = await ask_replace(client, doc.uri)
        assert str(cookie_file) in result["error"] and "is binary" in result["error"]
        assert fake.requests == [] and doc.text == CODE
    finally:
        await stop_client(client)


async def test_bad_proxy_setting(fake, cookie_file, tmp_path):
    client = await start_client(
        __import__("pytest_lsp").client_capabilities("neovim"),
        settings_for(fake, cookie_file, proxy="::not a url::"),
        str(tmp_path),
    )
    try:
        doc = client.open("file:///w/a.py", CODE)
        result = await client.ask(uri=doc.uri, prompt="p", mode="chat")
        assert "The proxy setting" in result["error"] and "::not a url::" not in result["error"]
    finally:
        await stop_client(client)


async def slow_ask_started(client, fake):
    """Start a slow replace ask and wait until part of it is in the document."""
    fake.scenario, fake.chunk_size, fake.slow_interval = "slow", 12, 0.02
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    task = client.ask_later(
        uri=doc.uri, range=whole_function(client, doc.uri), prompt="p", mode="replace"
    )
    await wait_until(lambda: "step_1 =" in doc.text)
    return doc, task


async def test_cancel_from_the_progress_ui(client, fake):
    doc, task = await slow_ask_started(client, fake)
    (token,) = client.progress_reports
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token))
    result = await asyncio.wait_for(task, 5)
    assert result["cancelled"] is True and ANSWER.startswith(result["text"])
    assert doc.text == CODE
    assert progress_of(client)[-1].message == "Cancelled"
    stream = await fake.wait_for_stream(lambda r: r.client_gone_at is not None, timeout=2)
    assert not stream.finished


async def test_cancel_request_of_the_command(client, fake):
    fake.scenario, fake.chunk_size = "slow", 12
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    params = types.ExecuteCommandParams(
        command="metaai.ask",
        arguments=[
            {
                "uri": doc.uri,
                "range": whole_function(client, doc.uri),
                "prompt": "p",
                "mode": "replace",
            }
        ],
    )
    future = asyncio.ensure_future(
        client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="ask-1")
    )
    await wait_until(lambda: "step_1 =" in doc.text)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="ask-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(future, 5)
    await wait_until(lambda: isinstance(progress_of(client)[-1], types.WorkDoneProgressEnd))
    assert doc.text == CODE
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None, timeout=2)


async def test_cancel_command_for_clients_without_progress_cancel(client, fake):
    doc, task = await slow_ask_started(client, fake)
    cancelled = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="metaai.cancel", arguments=[{"uri": doc.uri}])
    )
    assert cancelled == {"cancelled": 1}
    assert (await asyncio.wait_for(task, 5))["cancelled"] is True
    assert doc.text == CODE


async def test_typing_before_and_after_while_the_answer_streams(client, fake):
    # The fake streams only the pieces the test lets through, so keystrokes fall between
    # pieces (and between an edit and its answer) however loaded the machine is.
    fake.chunk_size = 4
    fake.hold()
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    task = client.ask_later(
        uri=doc.uri, range=whole_function(client, doc.uri), prompt="p", mode="replace"
    )
    typed_before, typed_after = "", ""
    for _round in range(12):
        for _ in range(3):  # keystrokes while an edit may be on its way
            key = "ab😀中"[len(typed_before) % 4]
            client.replace(doc.uri, len(typed_before), len(typed_before), key)  # start of file
            typed_before += key
            client.replace(doc.uri, len(doc.text), len(doc.text), key)  # end of file
            typed_after += key
            await asyncio.sleep(0)
        applied = len(client.applied_edits)
        await fake.release(10)  # about a line of the answer
        await wait_until(lambda: len(client.applied_edits) > applied)  # noqa: B023
    assert not task.done(), "the answer was still streaming while the user typed"
    await fake.release()
    result = await asyncio.wait_for(task, 30)
    assert result == {"text": ANSWER}
    warnings = [m.message for m in client.messages]
    assert doc.text == typed_before + REPLACED + typed_after, (warnings, client.refused_edits)
    assert len(client.applied_edits) > 12, (len(client.applied_edits), client.refused_edits)


FUNCTION = "def double(x):\n    return x+x  # 🎉\n"


async def test_typing_inside_the_text_being_written_stops_the_writing(client, fake):
    """No fragment stays: the original text comes back, followed by what the user typed."""
    doc, task = await slow_ask_started(client, fake)
    at = doc.text.index("step_1 =")
    client.replace(doc.uri, at, at, "MINE ")
    result = await asyncio.wait_for(task, 15)
    assert result["text"] == ANSWER
    assert doc.text == CODE.replace(FUNCTION, FUNCTION + "MINE ")
    warning = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert warning and "followed by anything you typed there" in warning[0].message
    assert "Meta AI's answer:\n" + ANSWER in [m.message for m in client.log_messages]


@pytest.mark.parametrize("scenario", ["cut", "errors_line"])
async def test_a_failure_after_typing_inside_leaves_no_fragment(client, fake, scenario):
    """The stream fails half-way, after the user typed inside the answer: the original
    text is back with the typing kept, and the blank line after it too."""
    fake.scenario, fake.chunk_size = scenario, 12
    fake.hold()  # the stream fails half-way (piece 40 or so), after the typing
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    task = client.ask_later(
        uri=doc.uri, range=whole_function(client, doc.uri), prompt="p", mode="replace"
    )
    await fake.release(10)  # up to the fourth line of the answer
    await wait_until(lambda: "step_1 =" in doc.text)
    at = doc.text.index("step_1 =")
    client.replace(doc.uri, at, at + len("step_1"), "mine")
    await server_caught_up(client, doc.uri)  # the typing came before the failure
    await fake.release()
    result = await asyncio.wait_for(task, 15)
    assert result["error"]
    assert doc.text == CODE.replace(FUNCTION, FUNCTION + "mine")


async def test_an_editor_that_reports_applied_edits_only_after_the_request(client, fake):
    """eglot holds its didChange while a request runs: the server takes the editor's
    word that an edit was applied, and checks each late report against its own edits."""
    client.hold_edit_reports = True
    fake.chunk_size, fake.interval = 40, 0.01
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/a.py", CODE)
    result = await ask_replace(client, doc.uri)
    assert result == {"text": ANSWER}
    assert doc.text == REPLACED and len(client.applied_edits) > 1
    client.hold_edit_reports = False
    client.send_held_reports()
    fake.answers.append(FakeAnswer("```\nx << 1\n```"))
    at = doc.text.index("2 * x")
    await client.ask(
        uri=doc.uri, range=client.range_of(doc.uri, at, at + 5), prompt="p", mode="replace"
    )
    assert doc.text == REPLACED.replace("2 * x", "x << 1")  # the copies agreed
    assert not [m for m in client.messages if m.type == types.MessageType.Warning]


async def test_closing_the_document_mid_answer(client, fake):
    """The answer has nowhere to go: its stream stops, and the user is told (issue 16 #14)."""
    doc, task = await slow_ask_started(client, fake)
    client.close(doc.uri)
    result = await asyncio.wait_for(task, 15)
    assert "document was closed" in result["error"] and ANSWER.startswith(result["text"])
    assert result["text"] != ANSWER
    shown = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert shown == ["Meta AI: " + result["error"]]
    stream = await fake.wait_for_stream(lambda r: r.client_gone_at is not None, timeout=5)
    assert not stream.finished, "the stream stopped instead of downloading to the end"
    assert not client.refused_edits  # nothing was sent for the closed document
    client.open("file:///w/b.py", CODE)
    assert (await client.ask(uri="file:///w/b.py", prompt="p", mode="chat"))["text"]


async def test_a_5_mb_selection_is_cut_to_a_bounded_prompt(client, fake):
    big = "x = '😀'\n" * 650_000  # ~5 MB of text, astral characters throughout
    doc = client.open("file:///w/big.py", big)
    end = client.range_of(doc.uri, 0, len(big))
    result = await client.ask(uri=doc.uri, range=end, prompt="summarise", mode="chat")
    prompt = fake.sent_messages()[0].prompt
    assert result["text"] and len(prompt) < 40_000
    assert "more characters were left out" in prompt


async def test_astral_characters_in_insert_mode(client, fake):
    fake.answers.append(FakeAnswer("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀"))
    text = "𝒜 = 1  # 😀\n𝒝 = 2\n"
    doc = client.open("file:///w/u.py", text)
    await client.ask(uri=doc.uri, range=client.range_of(doc.uri, 0, 4), prompt="p", mode="insert")
    assert doc.text == "𝒜 = 1  # 😀\n# 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀\n𝒝 = 2\n"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
POSITION = st.fixed_dictionaries(
    {"line": JSON | st.integers(-2, 8), "character": JSON | st.integers(-2, 40)}
)
ARGUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "uri": st.sampled_from(["file:///w/h.py", "file:///w/other.py"]) | JSON,
        "range": st.fixed_dictionaries({"start": POSITION, "end": POSITION}) | JSON,
        "prompt": st.text(max_size=5) | JSON,
        "mode": st.sampled_from(["replace", "insert", "chat"]) | JSON,
        "diagnostics": st.lists(st.text(max_size=5)) | JSON,
    },
)


async def test_generated_arguments_get_a_result_or_invalid_params(client, fake):
    doc = client.open("file:///w/h.py", "a = 1\nb = 2  # 😀\n")
    outcomes: list[str] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(arguments=st.lists(ARGUMENTS | JSON, min_size=0, max_size=2))
    def check(arguments):
        future = asyncio.run_coroutine_threadsafe(run(arguments), loop)
        outcomes.append(future.result(30))

    async def run(arguments):
        try:
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="metaai.ask", arguments=arguments)
            )
        except JsonRpcInvalidParams:
            return "invalid"
        except JsonRpcException as error:
            raise AssertionError(f"unexpected error {error!r} for {arguments!r}") from error
        return "ok"

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(check)
    assert "invalid" in outcomes
    assert doc.text.count("\n") >= 2  # whatever was written, the server answered every time
    assert (await client.ask(uri=doc.uri, prompt="alive?", mode="chat"))["text"]


async def test_tcp_listens_on_loopback_by_default_and_serves_one_client(unused_tcp_port):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        "--tcp",
        "--port",
        str(unused_tcp_port),
        "--log-level",
        "INFO",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = b""
        while b"serving one client" not in line:
            line = await asyncio.wait_for(process.stderr.readline(), 10)
        assert f"127.0.0.1:{unused_tcp_port}".encode() in line
        reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
        body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert header.startswith(b"Content-Length:")
        second_reader, second = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
        refusal = await asyncio.wait_for(second_reader.read(), 10)
        assert b"one client" in refusal  # and then closed
        second.close()
        writer.close()
    finally:
        process.kill()
        await process.wait()


async def test_tcp_beyond_loopback_needs_an_explicit_flag(unused_tcp_port):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metaai_ls",
        "--tcp",
        "--host",
        "0.0.0.0",
        "--port",
        str(unused_tcp_port),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert b"--allow-remote" in err and b"your login" in err

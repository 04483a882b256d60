"""The server's copy of a document and its lifecycle (issue 16 #1-#5, #14): line breaks
only where LSP has them, shutdown and reopen mid-answer, lone surrogates, and answers
that did not land said so."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from metaai_ls.testing import FakeAnswer
from tests.lsp import (
    server_caught_up,
    settings_for,
    start_client,
    start_impatient_client,
    stop_client,
    wait_until,
)
from tests.test_answers import lenses

# Characters str.splitlines() breaks at and LSP does not, and a stray CR (a line break).
SEPARATORS = "\x0c\u2028\x85\x0b\x1c\u2029"
ABOVE = f"# {SEPARATORS} odd\rCONST = 1  # a stray CR before\n\x0c\n"
FUNCTION = "def f(x):\n    return x\n"
CODE = f"{ABOVE}{FUNCTION}\nprint(f(2))\n"
NEW = "def f(x):\n    s = 'a\x0cb\u2028c\x85d\x0be'\n    step_0 = 0\n    step_1 = 1\n    return s\n"
ANSWER = f"```python\n{NEW}```"


def function_range(client, uri):
    text = client.documents[uri].text
    start = text.index("def f")
    return client.range_of(uri, start, start + len(FUNCTION))


async def test_line_separators_above_and_inside_the_answer(client, fake):
    fake.chunk_size = 5
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/sep.py", CODE)
    result = await client.ask(
        uri=doc.uri, range=function_range(client, doc.uri), prompt="p", mode="replace"
    )
    assert result == {"text": ANSWER}
    assert doc.text == CODE.replace(FUNCTION, NEW)
    assert [lens.command.title for lens in await lenses(client, doc.uri)] == [
        "Keep",
        "Discard",
        "Retry",
    ]
    assert not [m for m in client.messages if m.type <= types.MessageType.Warning]
    discarded = await client.command("metaai.discard", {"uri": doc.uri})
    assert discarded == {"discarded": True} and doc.text == CODE


async def test_typing_on_lines_after_separators_keeps_the_copies_equal(client, fake):
    """Incremental changes below a form feed or U+2028 land where the editor put them:
    the next ask sees the editor's text exactly."""
    doc = client.open("file:///w/sep.py", CODE)
    for key in "xyz":
        at = doc.text.index("print")
        client.replace(doc.uri, at, at, key)
    fake.answers.append(FakeAnswer("```\nreturn 2\n```"))
    at = doc.text.index("return x")
    await client.ask(
        uri=doc.uri, range=client.range_of(doc.uri, at, at + 8), prompt="p", mode="replace"
    )
    assert doc.text == CODE.replace("return x", "return 2").replace("print", "xyzprint")
    assert fake.sent_messages()[0].prompt.count("xyzprint") == 1


@pytest.mark.parametrize(
    ("text", "eol"),
    [
        # Every line ends in CR: asks are not refused, the answer keeps the file's CR.
        ("a = 1\rdef f(x):\r    return x\r\rprint(f(2))\r", "\r"),
        # Mixed: the region's own line ending, not the first line's.
        ("a = 1\nb = 2\ndef f(x):\r\n    return x\r\n\r\nprint(f(2))\n", "\r\n"),
    ],
)
async def test_lone_cr_and_mixed_line_ends(client, fake, text, eol):
    fake.answers.append(FakeAnswer("```python\ndef f(x):\n    y = x\n    return y\n```"))
    doc = client.open("file:///w/cr.py", text)
    start = text.index("def f")
    end = text.index(f"{eol}{eol}print") + len(eol)
    result = await client.ask(
        uri=doc.uri, range=client.range_of(doc.uri, start, end), prompt="p", mode="replace"
    )
    assert "error" not in result
    assert doc.text == text.replace(f"    return x{eol}", f"    y = x{eol}    return y{eol}")


async def answer_started(client, fake, uri="file:///w/a.py"):
    """A replace ask whose answer streams only as the test releases it, part written."""
    fake.chunk_size = 8
    fake.hold()
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open(uri, CODE)
    task = client.ask_later(
        uri=doc.uri, range=function_range(client, doc.uri), prompt="p", mode="replace"
    )
    await fake.release(6)
    await wait_until(lambda: "step" in doc.text or "'a" in doc.text)
    return doc, task


@pytest.mark.parametrize("capabilities", ["neovim", "visual_studio_code"])
async def test_shutdown_mid_answer(fake, cookie_file, tmp_path, capabilities):
    """`shutdown` is answered (not "dictionary changed size during iteration"), after
    the region is back to the original; nothing is sent after the answer."""
    from pytest_lsp import client_capabilities

    client = await start_client(
        client_capabilities(capabilities), settings_for(fake, cookie_file), str(tmp_path)
    )
    doc, task = await answer_started(client, fake)
    assert doc.text != CODE
    await client.shutdown_async(None)
    assert doc.text == CODE
    result = await task
    assert result["cancelled"] is True
    seen = (len(client.applied_edits), len(client.messages), len(client.log_messages))
    progress = sum(len(values) for values in client.progress_reports.values())
    await fake.release()  # the rest of the answer arrives: nothing of it goes out
    await fake.wait_for_stream(lambda r: r.client_gone_at is not None or r.finished)
    client.exit(None)
    await client._server.wait()
    assert client._server.returncode == 0
    assert (len(client.applied_edits), len(client.messages), len(client.log_messages)) == seen
    assert sum(len(values) for values in client.progress_reports.values()) == progress
    assert doc.text == CODE
    await client.stop()


async def test_reopen_mid_answer_and_after_it(client, fake):
    """The editor reloads the file: the streaming answer stops with a message, the
    written answers' Discard and Retry say they are gone (no stale offsets)."""
    fake.answers.append(FakeAnswer(ANSWER))
    doc = client.open("file:///w/r.py", CODE)
    await client.ask(uri=doc.uri, range=function_range(client, doc.uri), prompt="p", mode="replace")
    reloaded = "CONST = 2\n" + CODE
    client.open(doc.uri, reloaded)  # a second didOpen: the text from disk
    assert not await lenses(client, doc.uri)
    for command in ("metaai.discard", "metaai.retry"):
        with pytest.raises(JsonRpcInvalidParams, match="the answer is gone: the document was"):
            await client.command(command, {"uri": doc.uri})
    assert client.documents[doc.uri].text == reloaded

    doc, task = await answer_started(client, fake, "file:///w/s.py")
    client.open(doc.uri, reloaded)
    await server_caught_up(client, doc.uri)
    await fake.release()
    result = await task
    assert "opened again" in result["error"]
    assert client.documents[doc.uri].text == reloaded
    assert "Meta AI: " + result["error"] in [m.message for m in client.messages]


async def test_lone_surrogates_never_reach_the_editor(client, fake):
    """Meta splits a pair (the fake's utf16 scenario), and the document itself holds a
    lone surrogate: edits, progress and the result hold none, and the next ask works."""
    fake.scenario, fake.chunk_size = "utf16", 3
    emoji = "😀🎉" * 20
    fake.answers.append(FakeAnswer(f"```python\nx = '{emoji}'\n```"))
    text = "y = '\ud83d'\nx = 1\n"
    doc = client.open("file:///w/u.py", text)
    at = text.index("x = 1")
    result = await client.ask(
        uri=doc.uri, range=client.range_of(doc.uri, at, at + 5), prompt="p", mode="replace"
    )
    assert "error" not in result and not _lone(result["text"])
    assert doc.text == text.replace("x = 1", f"x = '{emoji}'")
    for params in client.applied_edits:
        (change,) = params.edit.document_changes
        assert not _lone(change.edits[0].new_text)
    reports = [v.message or "" for vs in client.progress_reports.values() for v in vs]
    assert not any(_lone(m) for m in reports)
    assert not fake.sent_messages() or not _lone(fake.sent_messages()[0].prompt)
    fake.scenario = "ok"
    fake.answers.append(FakeAnswer("```\ny = 2\n```"))
    second = await client.ask(
        uri=doc.uri,
        range=client.range_of(doc.uri, 0, doc.text.index("\n")),
        prompt="p",
        mode="replace",
    )
    assert "error" not in second and doc.text.startswith("y = 2\n")


def _lone(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


async def test_an_edit_request_the_editor_dropped_is_sent_again_once(fake, cookie_file, tmp_path):
    """Emacs lsp-mode drops server messages (emacs-lsp/lsp-mode#4323): a versioned edit
    that got no answer is sent again once, with the same version (so never applied twice)."""
    client = await start_impatient_client(fake, cookie_file, str(tmp_path))
    try:
        client.drop_edit_requests = 1
        fake.answers.append(FakeAnswer(ANSWER))
        doc = client.open("file:///w/a.py", CODE)
        result = await client.ask(
            uri=doc.uri, range=function_range(client, doc.uri), prompt="p", mode="replace"
        )
        assert result == {"text": ANSWER} and doc.text == CODE.replace(FUNCTION, NEW)
        assert client.dropped_edit_requests == 1
    finally:
        client.edits_released.set()
        await stop_client(client)


async def test_a_flood_of_edits_never_ends_in_a_silent_success(client, fake):
    """12 asks while the user types fast everywhere: each ask either wrote its whole
    answer or says in its result (and to the user) that it did not."""
    fake.chunk_size = 6
    lines = [f"v{n} = {n}\n\n" for n in range(12)]  # regions apart
    doc = client.open("file:///w/many.py", "".join(lines) + "# end\n")
    for n in range(12):
        fake.answers.append(FakeAnswer(f"```\nw{n} = {n * 10}\n```"))
    tasks = []
    for n in range(12):
        at = doc.text.index(f"v{n} =")
        end = doc.text.index("\n", at) + 1
        tasks.append(
            client.ask_later(
                uri=doc.uri, range=client.range_of(doc.uri, at, end), prompt="p", mode="replace"
            )
        )
    typed = 0
    while not all(task.done() for task in tasks):
        end = doc.text.index("# end")
        client.replace(doc.uri, end, end, "k")  # below every region
        typed += 1
        await asyncio.sleep(0.005)
    results = [task.result() for task in tasks]
    for n, result in enumerate(results):
        # The fake gives its answers in the order the asks reach it, not the order they began.
        code = result["text"].strip("`\n")
        landed = bool(code) and f"\n{code}\n" in "\n" + doc.text  # line 1 too
        assert landed or result.get("error"), (n, result)
        if landed:
            assert "error" not in result
    failures = [r for r in results if "error" in r]
    shown = [m.message for m in client.messages]
    assert all(any(r["error"] in m for m in shown) for r in failures)
    assert "k" * typed + "# end\n" in doc.text


async def test_soak_of_random_edits_with_separators_keeps_the_copies_equal(client, fake):
    """1,000 random incremental edits with every separator: the server's copy (the
    selection it sends to Meta) is the editor's, character for character (issue 16)."""
    from bench.soak_bench import SEPARATED, copies_equal, random_edits

    async def prompts() -> list[str]:
        return [message.prompt for message in fake.sent_messages()]

    doc = client.open("file:///w/soak.py", SEPARATED)
    random_edits(client, doc.uri, 1000)
    assert await copies_equal(client, doc.uri, prompts), "the server's copy is not the editor's"
    assert len(doc.text) > 300 and doc.version == 1001


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "é", "😀", "\n", "\r", "\r\n", *SEPARATORS]), max_size=12),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.text("x\r\n\x0c😀", max_size=3))),
    st.sampled_from(["utf-8", "utf-16", "utf-32"]),
)
def test_the_document_copy_applies_changes_at_lsp_positions(pieces, changes, encoding):
    """LspDocument (the override of pygls's private `_apply_incremental_change`) against
    positions computed independently (tests/editor.py), for each encoding."""
    from pygls.workspace.position_codec import PositionCodec

    from metaai_ls.server.documents import LspDocument
    from tests.editor import position_of

    text = "".join(pieces)
    document = LspDocument("file:///p.py", text, 1, position_codec=PositionCodec(encoding))
    for at, length, typed in changes:
        start = min(at, len(text))
        end = min(start + length, len(text))
        if text[start - 1 : start + 1] == "\r\n" or text[end - 1 : end + 1] == "\r\n":
            continue  # between the CR and LF of one line break: no position points there
        range_ = types.Range(position_of(text, start, encoding), position_of(text, end, encoding))
        document.apply_change(types.TextDocumentContentChangePartial(range=range_, text=typed))
        text = text[:start] + typed + text[end:]
        assert document.source == text
    assert "".join(document.lines) == text

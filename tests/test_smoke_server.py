from __future__ import annotations

import pytest_asyncio
from pytest_lsp import client_capabilities

from tests.editor import SERVER_COMMAND, EditorClient, make_editor_client


@pytest_asyncio.fixture(params=["neovim", "visual_studio_code"])
async def client(request, fake, cookie_file):
    lsp_client = make_editor_client()
    await lsp_client.start_io(*SERVER_COMMAND)
    await lsp_client.start_session(
        client_capabilities(request.param),
        {"metaai": {"url": fake.url, "graphUrl": fake.url, "cookiesFile": str(cookie_file)}},
    )
    yield lsp_client
    await lsp_client.shutdown_session()
    await lsp_client.stop()


async def test_replace(client: EditorClient, fake):
    from metaai_ls.testing import FakeAnswer

    fake.answers.append(
        FakeAnswer("Sure:\n```python\ndef f(x):\n    return x * 2  # 😀\n```\nDone.")
    )
    doc = client.open("file:///t/a.py", "# 😀 héllo\ndef f(x):\n    return x+x\n\nprint(f(2))\n")
    start = doc.text.index("def")
    end = doc.text.index("\n\nprint") + 1
    result = await client.ask(
        uri=doc.uri, range=client.range_of(doc.uri, start, end), prompt="simplify", mode="replace"
    )
    print(result, client.progress_reports, client.messages)
    assert doc.text == "# 😀 héllo\ndef f(x):\n    return x * 2  # 😀\n\nprint(f(2))\n"

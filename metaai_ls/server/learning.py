"""`metaai.learn` {file, question?} or {forget: true}: `metaai-ls learn` through the server,
answered as `metaai.doctor` is ({ok, report}). No HTTP here: the provider learns."""

from __future__ import annotations

import asyncio
from typing import Any

from metaai_ls.redact import redact

LEARN_COMMAND = "metaai.learn"
USAGE = (
    'metaai.learn takes {"file": "CAPTURE.har"} (and "question" when the chat\'s first '
    'message was not `metaai-ls learn`), or {"forget": true}.'
)


async def learn(arguments: tuple[Any, ...]) -> dict[str, Any]:
    from metaai_ls.provider.learn import DEFAULT_QUESTION, run
    from metaai_ls.provider.sockets import POOL

    given = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
    file, forget = given.get("file"), given.get("forget") is True
    question = given.get("question") or DEFAULT_QUESTION
    if (not forget and not (isinstance(file, str) and file)) or not isinstance(question, str):
        return {"ok": False, "report": USAGE}
    ok, report = await asyncio.to_thread(run, file, forget, question)
    if ok:
        await POOL.close_all()  # sockets opened the old way are not reused
    return {"ok": ok, "report": redact(report)}

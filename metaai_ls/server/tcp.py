"""`--tcp`: one client, as the help says. A second connection is told so and closed:
anyone who reaches the port could otherwise ask Meta AI with the user's login."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from pygls.server import run_async

from .server import MetaAILanguageServer
from .stdio import GuardedStreamReader, limit_from_environment

logger = logging.getLogger(__name__)

BUSY = b"metaai-ls serves one client and already has one.\r\n"


def serve_one_client(server: MetaAILanguageServer, host: str, port: int) -> None:
    stop_event = threading.Event()
    server._stop_event = stop_event
    taken = False

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal taken
        if taken:
            logger.warning("refused a second connection from %s", writer.get_extra_info("peername"))
            writer.write(BUSY)
            writer.close()
            return
        taken = True
        server.protocol.set_writer(writer)
        await run_async(
            stop_event=stop_event,
            reader=GuardedStreamReader(reader, limit_from_environment()),
            protocol=server.protocol,
            logger=logger,
            error_handler=server.report_server_error,
        )
        server.shutdown()
        listener.close()

    async def serve() -> None:
        nonlocal listener
        listener = await asyncio.start_server(connection, host, port)
        server._server = listener
        logger.info("serving one client on %s:%s", host, port)
        async with listener:
            with contextlib.suppress(asyncio.CancelledError):  # closed after the client
                await listener.serve_forever()

    listener: asyncio.Server
    asyncio.run(serve())

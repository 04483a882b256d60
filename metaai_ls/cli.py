"""`metaai-ls`: the language server (default), `ask`, and the offline `fake-server`.

Heavy modules are imported only by the mode that needs them, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from metaai_ls import __version__

INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ask"]:
        return ask_main(argv[1:])
    if argv[:1] == ["fake-server"]:
        from metaai_ls.testing.fake_meta import main as fake_main

        return fake_main(argv[1:])
    return serve_main(argv)


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls",
        description="Meta AI language server. Other commands: `metaai-ls ask QUESTION`, "
        "`metaai-ls fake-server` (an offline Meta AI for trying it out).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="serve one client over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address (default: loopback)")
    parser.add_argument("--port", type=int, default=2087)
    parser.add_argument("--log-level", default=os.environ.get("METAAI_LOG_LEVEL", "WARNING"))
    parser.add_argument("--version", action="version", version=f"metaai-ls {__version__}")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from metaai_ls.server import create_server

    server = create_server()
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0


def ask_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls ask",
        description="Ask Meta AI; the answer streams to stdout. Piped stdin is added as context.",
    )
    parser.add_argument("question", nargs="+")
    parser.add_argument(
        "--cookies", metavar="FILE", help="cookie file (else METAAI_COOKIES, else your browsers)"
    )
    parser.add_argument("--proxy", metavar="URL")
    parser.add_argument("--model", default="default")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--new", dest="continue_", action="store_false", help="start a new conversation (default)"
    )
    group.add_argument(
        "--continue", dest="continue_", action="store_true", help="continue the last conversation"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("METAAI_LOG_LEVEL", "WARNING").upper(), stream=sys.stderr
    )
    context = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    try:
        return asyncio.run(_ask(args, " ".join(args.question), context))
    except KeyboardInterrupt:
        print("\nmetaai-ls: interrupted", file=sys.stderr)
        return INTERRUPTED


async def _ask(args: argparse.Namespace, question: str, context: str) -> int:
    from metaai_ls.provider import MetaAIAccount, MetaAIError, load_cookie_file

    state = _ConversationState()
    conversation = state.load() if args.continue_ else None
    content = question if not context.strip() else f"{question}\n\n```\n{context.rstrip()}\n```"
    try:
        cookies = await asyncio.to_thread(load_cookie_file, args.cookies) if args.cookies else None
        conversation = conversation or _new_conversation()
        generator = MetaAIAccount.create_async_generator(
            model=args.model,
            messages=[{"role": "user", "content": content}],
            proxy=args.proxy,
            cookies=cookies,
            conversation=conversation,
        )
        ended_with_newline = True
        async for chunk in generator:
            text = str(chunk)
            sys.stdout.write(text)
            sys.stdout.flush()
            ended_with_newline = text.endswith("\n")
        if not ended_with_newline:
            sys.stdout.write("\n")
    except MetaAIError as error:
        print(f"metaai-ls: {error.message}", file=sys.stderr)
        return error.exit_code
    finally:
        state.save(conversation)
    return 0


def _new_conversation():
    from metaai_ls.provider import Conversation

    return Conversation()


class _ConversationState:
    """The last conversation of `metaai-ls ask`, for `--continue`."""

    def __init__(self) -> None:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
        self.path = Path(base) / "metaai-ls" / "conversation.json"

    def load(self):
        from metaai_ls.provider import Conversation

        try:
            return Conversation(json.loads(self.path.read_text())["id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, conversation) -> None:
        if conversation is None or not conversation.id:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"id": conversation.id}))
        except OSError:
            pass  # continuing later is a convenience, not worth failing the answer

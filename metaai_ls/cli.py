"""`metaai-ls`: the language server (default), `ask`, `doctor`, `models`, and the offline
`fake-server`.

Heavy modules are imported only by the mode that needs them, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from metaai_ls import __version__

INTERRUPTED = 130
CONFIG_ERROR = 2
HISTORY_TURNS = 20  # the API backend's follow-ups resend at most this many earlier messages


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"ask": ask_main, "doctor": doctor_main, "models": models_main}
    if argv[:1] and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    if argv[:1] == ["fake-server"]:
        from metaai_ls.testing.fake_meta import main as fake_main

        return fake_main(argv[1:])
    return serve_main(argv)


def say(message: str) -> None:
    """One sentence on stderr, with every secret the process holds blanked."""
    from metaai_ls.redact import redact

    print(f"metaai-ls: {redact(message)}", file=sys.stderr, flush=True)


def _logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("METAAI_LOG_LEVEL") or "WARNING").upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from metaai_ls.redact import install

    install()


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls",
        description="Meta AI language server. Other commands: `metaai-ls ask QUESTION`, "
        "`metaai-ls doctor`, `metaai-ls models`, `metaai-ls fake-server` (an offline Meta AI).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="serve one client over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address (default: loopback)")
    parser.add_argument("--port", type=int, default=2087)
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host beyond this machine (anyone who reaches it can use your login)",
    )
    parser.add_argument("--log-level", default=None)
    parser.add_argument("--version", action="version", version=f"metaai-ls {__version__}")
    args = parser.parse_args(argv)
    _logging(args.log_level)
    if args.tcp and not _is_loopback(args.host):
        if not args.allow_remote:
            parser.error(
                f"--host {args.host} is beyond this machine: anyone who can reach it could ask "
                "Meta AI with your login. Add --allow-remote if that is what you want."
            )
        print(
            f"WARNING: metaai-ls serves {args.host}:{args.port}, beyond this machine: anyone "
            "who can reach it can ask Meta AI with your login.",
            file=sys.stderr,
            flush=True,
        )
    from metaai_ls.server import create_server

    server = create_server()
    if args.tcp:
        from metaai_ls.server.tcp import serve_one_client

        serve_one_client(server, args.host, args.port)
    else:
        from metaai_ls.server.stdio import GuardedStdin, limit_from_environment

        server.start_io(stdin=GuardedStdin(sys.stdin.buffer, limit_from_environment()))
    return 0


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _add_door_options(parser: argparse.ArgumentParser) -> None:
    """The settings of CONTRACT.md as flags (each defaults to its environment variable)."""
    parser.add_argument("--backend", choices=("account", "api"), default=None)
    parser.add_argument(
        "--cookies", metavar="FILE", help="cookie file (else METAAI_COOKIES, else your browsers)"
    )
    parser.add_argument("--api-key-file", metavar="FILE", help="else MODEL_API_KEY/METAAI_API_KEY")
    parser.add_argument("--proxy", metavar="URL")
    parser.add_argument("--model", default=None, help="account: fast or thinking; API: a model")
    parser.add_argument("--protocol", choices=("auto", "gateway", "abra"), default=None)
    parser.add_argument("--url", help="web host (METAAI_URL)")
    parser.add_argument("--gateway-url", help="gateway WebSocket (METAAI_GATEWAY_URL)")
    parser.add_argument("--graph-url", help="Abra API host (METAAI_GRAPH_URL)")
    parser.add_argument("--api-url", help="Meta Model API (METAAI_API_URL)")


def _door_options(args: argparse.Namespace):
    """The flags as the provider's options (DoorOptions)."""
    from metaai_ls.provider.doors import DoorOptions

    return DoorOptions(
        backend=args.backend or os.environ.get("METAAI_BACKEND") or "account",
        cookies_file=args.cookies,
        api_key_file=args.api_key_file,
        proxy=args.proxy,
        url=args.url,
        graph_url=args.graph_url,
        gateway_url=args.gateway_url,
        api_url=args.api_url,
        protocol=args.protocol,
        model=args.model,
    )


def ask_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls ask",
        description="Ask Meta AI; the answer streams to stdout. Piped stdin is added as context.",
    )
    parser.add_argument("question", nargs="+")
    _add_door_options(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--new", dest="continue_", action="store_false", help="start a new conversation (default)"
    )
    group.add_argument(
        "--continue", dest="continue_", action="store_true", help="continue the last conversation"
    )
    args = parser.parse_args(argv)
    _logging()
    context = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    try:
        return asyncio.run(_ask(args, " ".join(args.question), context))
    except KeyboardInterrupt:
        print("\nmetaai-ls: interrupted", file=sys.stderr)
        return INTERRUPTED


async def _ask(args: argparse.Namespace, question: str, context: str) -> int:
    from metaai_ls.provider import MetaAIError, Revision
    from metaai_ls.provider.doors import open_answer

    options = _door_options(args)
    state = _ConversationState(options.backend)
    conversation = state.load() if args.continue_ else None
    content = question if not context.strip() else f"{question}\n\n```\n{context.rstrip()}\n```"
    try:
        conversation = conversation or _new_conversation()
        messages = [{"role": "user", "content": content}]
        ended_with_newline = True
        async for chunk in await open_answer(options, messages, conversation):
            text = str(chunk)
            if isinstance(chunk, Revision):
                print(
                    "\nmetaai-ls: Meta AI revised its answer; the final version follows",
                    file=sys.stderr,
                )
            sys.stdout.write(text)
            sys.stdout.flush()
            ended_with_newline = text.endswith("\n")
        if not ended_with_newline:
            sys.stdout.write("\n")
    except MetaAIError as error:
        say(error.message)
        return error.exit_code
    finally:
        state.save(conversation)
    return 0


def doctor_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls doctor",
        description="Check the setup step by step: login, home page, token, dialect, gateway "
        "(or the API key and its models). Never prints a secret.",
    )
    _add_door_options(parser)
    parser.add_argument("--send", action="store_true", help="also ask a one-word question")
    args = parser.parse_args(argv)
    _logging()
    from metaai_ls.provider.doctor import DoctorOptions, diagnose
    from metaai_ls.redact import redact

    options = DoctorOptions(**dataclasses.asdict(_door_options(args)), send=args.send)

    async def run() -> int:
        ok = True
        async for step in diagnose(options):
            print(redact(step.line()), flush=True)
            ok = ok and step.ok
        print("All checks passed." if ok else "A check failed: see → above.", flush=True)
        return 0 if ok else 1

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return INTERRUPTED


def models_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls models", description="List the models the account or the API key offers."
    )
    _add_door_options(parser)
    args = parser.parse_args(argv)
    _logging()
    from metaai_ls.provider import MetaAIError, MetaModelAPI, api_key_from, load_identifiers

    options = _door_options(args)
    if options.backend != "api":
        try:
            models = load_identifiers()["models"]
        except MetaAIError as error:
            say(error.message)
            return error.exit_code
        for name, mode in models.items():
            print(f"{name}\t(mode {mode['mode_name']})")
        return 0

    async def run() -> int:
        try:
            key, _ = await asyncio.to_thread(api_key_from, options.api_key_file)
            async with MetaModelAPI(options.proxy, api_key=key, api_url=options.api_url) as client:
                for name in await client.list_models():
                    print(name)
        except MetaAIError as error:
            say(error.message)
            return error.exit_code
        return 0

    return asyncio.run(run())


def _new_conversation():
    from metaai_ls.provider import Conversation

    return Conversation()


class _ConversationState:
    """The last conversation of `metaai-ls ask` for each backend, for `--continue`."""

    def __init__(self, backend: str) -> None:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
        name = "conversation.json" if backend == "account" else f"conversation-{backend}.json"
        self.path = Path(base) / "metaai-ls" / name

    def load(self):
        from metaai_ls.provider import Conversation

        try:
            data = json.loads(self.path.read_text())
            history = data.get("history") or []
            return Conversation(data["id"], int(data.get("turns", 1)), list(history))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, conversation) -> None:
        if conversation is None or not (conversation.id or conversation.history):
            return
        data = {
            "id": conversation.id or "",
            "turns": conversation.turns,
            "history": conversation.history[-HISTORY_TURNS:],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(data))
        except OSError:
            pass  # continuing later is a convenience, not worth failing the answer

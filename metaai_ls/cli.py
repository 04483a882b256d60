"""`metaai-ls`: the language server (default), `ask`, `doctor`, `models`, the offline
`fake-server` and `help`.

Heavy modules are imported only by the mode that needs them, so start-up stays fast.
Every mode ends with an exit code and at most a sentence on stderr (metaai_ls.terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from metaai_ls import __version__
from metaai_ls.terminal import (
    CONFIG_ERROR,
    INTERRUPTED,
    AnswerOutput,
    check_argument,
    interrupt_at_once,
    read_context,
    run_async,
    run_command,
    say,
)

HISTORY_TURNS = 20  # the API backend's follow-ups resend at most this many earlier messages
__all__ = ["CONFIG_ERROR", "INTERRUPTED", "main", "say"]


def main(argv: list[str] | None = None) -> int:
    """The console script (``argv`` None: this process's own arguments)."""
    command, rest = _command(sys.argv[1:] if argv is None else argv)
    return run_command(command, rest, own_process=argv is None)


def _command(argv: list[str]):
    if argv[:1] and argv[0] in COMMANDS:
        return COMMANDS[argv[0]][0], argv[1:]
    return serve_main, argv


def fake_server_main(argv: list[str]) -> int:
    from metaai_ls.testing.fake_meta import main as fake_main

    return fake_main(argv)


def help_main(argv: list[str]) -> int:
    """`metaai-ls help [COMMAND]`: the commands, or one command's options."""
    if argv and argv[0] in COMMANDS and argv[0] != "help":
        return COMMANDS[argv[0]][0](["--help"])
    if argv and argv[0] not in ("serve", "server"):
        say(f"there is no command {argv[0]!r}; the commands are {', '.join(COMMANDS)}.")
        return CONFIG_ERROR
    if argv:
        return serve_main(["--help"])
    print(USAGE)
    print("\nCommands:")
    for name, (_, summary) in COMMANDS.items():
        print(f"  {name:<12} {summary}")
    print(
        "\nWithout a command it is the language server that editors start: "
        "`metaai-ls --stdio` (the default) or `--tcp`; `metaai-ls help serve` lists its "
        "options, `metaai-ls help COMMAND` a command's."
    )
    return 0


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
        usage=USAGE.removeprefix("usage: "),
        description="Meta AI language server (editors start it). Other commands: "
        "`metaai-ls ask QUESTION`, `metaai-ls doctor`, `metaai-ls models`, "
        "`metaai-ls fake-server` (an offline Meta AI); `metaai-ls help` lists them.",
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
    interrupt_at_once()
    if not args.tcp and sys.stdin is not None and sys.stdin.isatty():
        print(TERMINAL_NOTE, file=sys.stderr, flush=True)
    from metaai_ls.server import create_server

    server = create_server()
    if args.tcp:
        from metaai_ls.server.tcp import serve_one_client

        serve_one_client(server, args.host, args.port)
    else:
        from metaai_ls.server.stdio import GuardedStdin, limit_from_environment

        server.start_io(stdin=GuardedStdin(sys.stdin.buffer, limit_from_environment()))
    return exit_code_of(server)


TERMINAL_NOTE = (
    "metaai-ls is a language server: editors start it and talk to it on stdin and stdout "
    "(LSP), so it waits here for an editor. In a terminal, ask with "
    '`metaai-ls ask "QUESTION"` or check the setup with `metaai-ls doctor` '
    "(`metaai-ls help` lists the commands). Ctrl-C quits."
)


def exit_code_of(server) -> int:
    """0 after `shutdown`, else 1, as the LSP spec says of `exit` (pygls 2.1.1 computes it
    from ``protocol._shutdown`` but its stdio loop swallows the SystemExit carrying it)."""
    return 0 if getattr(server.protocol, "_shutdown", False) else 1


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
    question = check_argument(" ".join(args.question))
    return run_async(_ask(args, question, read_context()))


async def _ask(args: argparse.Namespace, question: str, context: str) -> int:
    from metaai_ls.provider import MetaAIError, Revision
    from metaai_ls.provider.doors import open_answer

    options = _door_options(args)
    state = _ConversationState(options.backend)
    conversation = state.load() if args.continue_ else None
    content = question if not context.strip() else f"{question}\n\n```\n{context.rstrip()}\n```"
    output = AnswerOutput()
    try:
        conversation = conversation or _new_conversation()
        messages = [{"role": "user", "content": content}]
        answer = await open_answer(options, messages, conversation)
        async with contextlib.aclosing(answer):  # a reader gone (`| head`): the stream closes
            async for chunk in answer:
                if isinstance(chunk, Revision):
                    output.end_line()
                    say("Meta AI revised its answer; the final version follows")
                output.write(str(chunk))
        output.finish()
    except MetaAIError as error:
        output.end_line()  # the part received, then the sentence on a line of its own
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
    from metaai_ls.provider.doctor import DoctorOptions, diagnose, summary
    from metaai_ls.redact import redact

    options = DoctorOptions(**dataclasses.asdict(_door_options(args)), send=args.send)

    async def run() -> int:
        steps = []
        async for step in diagnose(options):
            print(redact(step.line()), flush=True)
            steps.append(step)
        print(summary(steps), flush=True)
        return 0 if all(step.ok for step in steps) else 1

    return run_async(run())


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
        for name in models:  # the names `--model` and the `model` setting take
            print(name)
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

    return run_async(run())


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


COMMANDS = {
    "ask": (ask_main, "ask Meta AI a question; the answer streams to stdout"),
    "doctor": (doctor_main, "check the setup step by step (login, page, token, gateway or key)"),
    "models": (models_main, "list the models the account or the API key offers"),
    "fake-server": (fake_server_main, "serve an offline fake of Meta AI on this machine"),
    "help": (help_main, "list the commands, or one command's options (help COMMAND)"),
}
USAGE = (
    "usage: metaai-ls [ask|doctor|models|fake-server|help] ...\n"
    "       metaai-ls [--stdio | --tcp [--host HOST] [--port PORT]] (the language server)"
)

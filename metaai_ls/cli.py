"""`metaai-ls`: the language server (default), `ask`, `doctor`, `models`, `history`,
`learn`, the offline `fake-server` and `help`.

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

__all__ = ["CONFIG_ERROR", "INTERRUPTED", "main", "say"]


def main(argv: list[str] | None = None) -> int:
    """The console script (``argv`` None: this process's own arguments)."""
    command, rest = _command(sys.argv[1:] if argv is None else argv)
    return run_command(command, rest, own_process=argv is None)


def _command(argv: list[str]):
    if argv[:1] and argv[0] in COMMANDS:
        return COMMANDS[argv[0]][0], argv[1:]
    return serve_main, argv


def learn_main(argv: list[str]) -> int:
    from metaai_ls.learn_command import learn_main as learn

    return learn(argv)


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
        "`metaai-ls learn CAPTURE.har`, "
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
        description="Ask Meta AI; the answer streams to stdout. Piped stdin is added as context. "
        "Each ask is kept in the history that the editors share (`metaai-ls history`).",
    )
    parser.add_argument("question", nargs="+")
    _add_door_options(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--new", dest="continue_", action="store_false", help="start a new conversation (default)"
    )
    group.add_argument(
        "--continue",
        dest="continue_",
        action="store_true",
        help="continue the latest conversation of the history",
    )
    group.add_argument(
        "--conversation", metavar="ID", help="continue that conversation (see `metaai-ls history`)"
    )
    parser.set_defaults(continue_=False)
    args = parser.parse_args(argv)
    _logging()
    question = check_argument(" ".join(args.question))
    return run_async(_ask(args, question, read_context()))


def _earlier(args: argparse.Namespace):
    """The conversation to continue (None: a new one), or an exit code after a sentence."""
    from metaai_ls.history import History

    history = History()
    if args.conversation:
        record = history.get(args.conversation)
        if record is None:
            say(
                f"there is no conversation {args.conversation!r} in the history; "
                "`metaai-ls history` lists them."
            )
            return CONFIG_ERROR
        return record
    record = history.latest() if args.continue_ else None
    if args.continue_ and record is None:
        say("no earlier conversation: this starts a new one.")
    return record


async def _ask(args: argparse.Namespace, question: str, context: str) -> int:
    from metaai_ls.history import continuation
    from metaai_ls.provider import MetaAIError, Revision
    from metaai_ls.provider.doors import open_answer

    options = _door_options(args)
    try:
        record = _earlier(args)
    except OSError as error:  # the question is still asked, as a new conversation
        say(f"the history cannot be read ({error.strerror or error}); this is a new conversation.")
        record = None
    if isinstance(record, int):
        return record
    conversation, earlier = continuation(record, options.backend)
    content = question if not context.strip() else f"{question}\n\n```\n{context.rstrip()}\n```"
    messages = [*earlier, {"role": "user", "content": content}]
    parts: list[str] = []
    outcome: dict[str, object] = {"cancelled": True}  # until the answer ends either way
    output = AnswerOutput()
    try:
        answer = await open_answer(options, messages, conversation)
        async with contextlib.aclosing(answer):  # a reader gone (`| head`): the stream closes
            async for chunk in answer:
                text = str(chunk)
                if isinstance(chunk, Revision):
                    output.end_line()
                    say("Meta AI revised its answer; the final version follows")
                    parts.clear()
                parts.append(text)
                output.write(text)
        output.finish()
        outcome = {}
    except MetaAIError as error:
        output.end_line()  # the part received, then the sentence on a line of its own
        say(error.message)
        outcome = {"error": error.message}
        return error.exit_code
    finally:
        if parts or not outcome:  # an ask that failed before any text leaves no conversation
            _keep(record, question, content, "".join(parts), outcome, options, conversation)
    return 0


def _keep(record, question, content, answer, outcome, options, conversation) -> None:
    """The exchange into the shared history (a failure to write it is only a warning)."""
    from metaai_ls.history import History, Turn, record_exchange

    asked = Turn("user", question, ["standard input"] if content != question else [])
    asked.prompt = content if content != question else None
    answered = Turn("assistant", answer, error=outcome.get("error"))
    answered.cancelled = bool(outcome.get("cancelled"))
    try:
        record_exchange(
            History(),
            record.id if record else None,
            asked,
            answered,
            options.backend,
            options.model,
            conversation,
        )
    except OSError as error:
        say(f"the history could not be written ({error})")


def history_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="metaai-ls history",
        description="The conversations of `metaai-ls ask` and the editors, newest first "
        "(kept under $XDG_STATE_HOME/metaai-ls).",
    )
    parser.add_argument("id", nargs="?", help="print that conversation")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--forget", metavar="ID", help="delete that conversation")
    action.add_argument("--forget-all", action="store_true", help="delete every conversation")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    _logging()
    from metaai_ls.history import History

    try:
        return _history(History(), args)
    except OSError as error:
        say(f"the history in {History().folder} cannot be used ({error.strerror or error}).")
        return CONFIG_ERROR


def _history(history, args: argparse.Namespace) -> int:
    if args.forget_all:
        count = history.forget_all()
        print(f"Forgot {count} conversation{'' if count == 1 else 's'}.")
        return 0
    if args.forget or args.id:
        wanted = args.forget or args.id
        record = history.get(wanted)
        if record is None:
            say(f"there is no conversation {wanted!r} in the history.")
            return CONFIG_ERROR
        if args.forget:
            history.forget(wanted)
            print(f"Forgot {wanted} ({record.title}).")
        else:
            _print_conversation(record, args.json)
        return 0
    entries = history.list()
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=1))
    elif not entries:
        print("No conversations yet: `metaai-ls ask QUESTION` starts one.")
    for entry in [] if args.json else entries:
        when = entry["updated"][:16].replace("T", " ")
        print(
            f"{entry['id']}  {when}  {entry['turns']:>3} turns  {entry['door']:<7}  {entry['title']}"
        )
    return 0


def _print_conversation(record, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record.view(), ensure_ascii=False, indent=1))
        return
    print(f"# {record.title}\n")
    for turn in record.turns:
        status = " (failed)" if turn.error else " (cancelled)" if turn.cancelled else ""
        print(f"## {'You' if turn.role == 'user' else 'Meta AI'}{status}\n\n{turn.text}\n")


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


COMMANDS = {
    "ask": (ask_main, "ask Meta AI a question; the answer streams to stdout"),
    "doctor": (doctor_main, "check the setup step by step (login, page, token, gateway or key)"),
    "models": (models_main, "list the models the account or the API key offers"),
    "history": (history_main, "the conversations of `ask` and the editors, or one of them"),
    "learn": (learn_main, "learn Meta's changed web client from a browser capture (HAR)"),
    "fake-server": (fake_server_main, "serve an offline fake of Meta AI on this machine"),
    "help": (help_main, "list the commands, or one command's options (help COMMAND)"),
}
USAGE = (
    f"usage: metaai-ls [{'|'.join(COMMANDS)}] ...\n"
    "       metaai-ls [--stdio | --tcp [--host HOST] [--port PORT]] (the language server)"
)

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

from metaai_ls import __version__

INTERRUPTED = 130
CONFIG_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {
        "ask": ask_main,
        "doctor": doctor_main,
        "models": models_main,
        "history": history_main,
    }
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
    context = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    try:
        return asyncio.run(_ask(args, " ".join(args.question), context))
    except KeyboardInterrupt:
        print("\nmetaai-ls: interrupted", file=sys.stderr)
        return INTERRUPTED


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
    try:
        ended_with_newline = True
        async for chunk in await open_answer(options, messages, conversation):
            text = str(chunk)
            if isinstance(chunk, Revision):
                print(
                    "\nmetaai-ls: Meta AI revised its answer; the final version follows",
                    file=sys.stderr,
                )
                parts.clear()
            parts.append(text)
            sys.stdout.write(text)
            sys.stdout.flush()
            ended_with_newline = text.endswith("\n")
        if not ended_with_newline:
            sys.stdout.write("\n")
        outcome = {}
    except MetaAIError as error:
        say(error.message)
        outcome = {"error": error.message}
        return error.exit_code
    finally:
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

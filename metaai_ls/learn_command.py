"""`metaai-ls learn CAPTURE.har [--question TEXT]` and `metaai-ls learn --forget`."""

from __future__ import annotations

import argparse

from metaai_ls.terminal import CONFIG_ERROR, say


def learn_main(argv: list[str]) -> int:
    from metaai_ls.provider.errors import LEARN_STEPS
    from metaai_ls.provider.learn import DEFAULT_QUESTION

    parser = argparse.ArgumentParser(
        prog="metaai-ls learn",
        description="Learn Meta's current web client from a browser capture (HAR) and keep "
        "what differs from the built-in values in $XDG_CONFIG_HOME/metaai-ls/identifiers.json "
        "(no cookie, token or key is kept). When Meta changed its web client, " + LEARN_STEPS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("capture", nargs="?", help="the HAR file the devtools saved")
    action.add_argument(
        "--forget",
        action="store_true",
        help="remove the learned values (back to the built-in ones)",
    )
    parser.add_argument(
        "--question",
        default=DEFAULT_QUESTION,
        metavar="TEXT",
        help=f"the first message of the captured chat (default: {DEFAULT_QUESTION!r})",
    )
    args = parser.parse_args(argv)
    from metaai_ls.cli import _logging
    from metaai_ls.provider.learn import run

    _logging()
    ok, report = run(args.capture, args.forget, args.question)
    if not ok:
        say(report)
        return CONFIG_ERROR
    print(report, flush=True)
    return 0

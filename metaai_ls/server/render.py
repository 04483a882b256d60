"""What an answer becomes in the document: pure functions of the answer so far.

Each renderer is append-only while the answer streams (the text for a longer answer
extends the text for a shorter one), so streamed edits are insertions at the end.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n", re.MULTILINE)

LINE_COMMENTS = {
    "#": [
        "python",
        "shellscript",
        "sh",
        "bash",
        "zsh",
        "fish",
        "ruby",
        "perl",
        "r",
        "yaml",
        "toml",
        "dockerfile",
        "makefile",
        "powershell",
        "elixir",
        "julia",
        "coffeescript",
        "nim",
        "cmake",
        "properties",
        "ini",
        "conf",
        "nix",
        "crystal",
        "gdscript",
        "tcl",
        "awk",
        "graphql",
        "starlark",
        "bazel",
    ],
    "//": [
        "c",
        "cpp",
        "csharp",
        "java",
        "javascript",
        "typescript",
        "javascriptreact",
        "typescriptreact",
        "go",
        "rust",
        "swift",
        "kotlin",
        "scala",
        "dart",
        "php",
        "objective-c",
        "objective-cpp",
        "jsonc",
        "json5",
        "groovy",
        "zig",
        "fsharp",
        "d",
        "solidity",
        "proto",
        "glsl",
        "hlsl",
        "verilog",
        "v",
        "odin",
        "gleam",
    ],
    "--": ["lua", "sql", "haskell", "elm", "ada", "purescript", "agda", "idris"],
    ";;": ["clojure", "lisp", "scheme", "racket", "elisp", "commonlisp", "fennel"],
    "%": ["latex", "tex", "bibtex", "erlang", "matlab", "prolog"],
    '"': ["vim"],
    "'": ["vb", "vba"],
    ">": ["markdown"],
}
BLOCK_COMMENTS = {
    ("<!--", "-->"): ["html", "xml", "svg", "vue", "svelte", "xhtml", "xsl"],
    ("/*", "*/"): ["css", "scss", "less"],
}
PLAIN = {"plaintext", "text", ""}

_LINE_BY_LANGUAGE = {lang: marker for marker, langs in LINE_COMMENTS.items() for lang in langs}
_BLOCK_BY_LANGUAGE = {lang: pair for pair, langs in BLOCK_COMMENTS.items() for lang in langs}


def code_to_write(answer: str, final: bool, keep_trailing_newline: bool) -> str | None:
    """The replacement text: the first fenced block's content, or the whole answer.

    While streaming, None until a fence has opened (the answer may still turn out to
    have none), and a last line that could be the closing fence is held back.
    """
    opener = FENCE.search(answer)
    if opener is None:
        return _match_newline(answer, keep_trailing_newline) if final else None
    body_start = opener.end()
    closing = _closing_fence(answer, body_start, opener.group(1))
    if closing is not None:
        body = answer[body_start:closing]
    elif final:
        body = answer[body_start:]
    else:
        body = _without_possible_fence_tail(answer[body_start:], opener.group(1)[0])
    return _match_newline(body, keep_trailing_newline) if final else body


def _closing_fence(answer: str, start: int, opener: str) -> int | None:
    pattern = rf"^ {{0,3}}{re.escape(opener[0])}{{{len(opener)},}}[ \t]*(?:\n|$)"
    match = re.compile(pattern, re.MULTILINE).search(answer, start)
    return match.start() if match else None


def _without_possible_fence_tail(body: str, fence_char: str) -> str:
    last_newline = body.rfind("\n") + 1
    tail = body[last_newline:].strip()
    return body[:last_newline] if set(tail) <= {fence_char} else body


def _match_newline(text: str, keep_trailing_newline: bool) -> str:
    """End the replacement the way the replaced selection ended."""
    if keep_trailing_newline:
        return text if text.endswith("\n") or not text else text + "\n"
    return text.removesuffix("\n")


def comment_block(answer: str, language: str, indent: str, final: bool, lead: str = "") -> str:
    """The answer as a comment in ``language``, one comment line per answer line."""
    if language in PLAIN:
        prefix, opening, closing = "", "", ""
    elif pair := _BLOCK_BY_LANGUAGE.get(language):
        prefix, (opening, closing) = "", pair
        answer = answer.replace(closing, closing[0] + " " + closing[1:])
    else:
        prefix, opening, closing = _LINE_BY_LANGUAGE.get(language, "#") + " ", "", ""
    if not answer:
        return ""
    *lines, partial = answer.split("\n")
    body = "".join(_comment_line(indent, prefix, line) + "\n" for line in lines)
    if partial:
        body += _comment_line(indent, prefix, partial) + ("\n" if final else "")
    text = lead + (indent + opening + "\n" if opening else "") + body
    if final and closing:
        text += indent + closing + "\n"
    return text


def _comment_line(indent: str, prefix: str, line: str) -> str:
    return (indent + prefix + line).rstrip() if not line.strip() else indent + prefix + line

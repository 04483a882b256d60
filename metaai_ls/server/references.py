"""References a chat message brings along: files (open or closed), selections, a
document's diagnostics, the workspace's `git diff`.

Parsing and the prompt's blocks are pure functions; reading happens in ``read`` (files
in a thread, git as a bounded subprocess). Files are read only inside the workspace
folders (their real paths: a symlink out of them is refused), each block is capped, and
bad input is an InvalidParams error that names the reference and what to do.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import os
import re
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from .arguments import invalid, parse_range
from .prompts import fence_for
from .text import TextIndex

if TYPE_CHECKING:
    from .server import MetaAILanguageServer

COMMAND = "metaai.chat"
MAX_BLOCK_CHARS = 64_000  # each reference, then cut with a note
MAX_TOTAL_CHARS = 256_000  # all the references of one message
MAX_FILE_BYTES = 4 << 20  # a larger file is refused: reference a selection of it
MAX_REFERENCES = 20
GIT_TIMEOUT = 10.0
TAGS = re.compile(
    r"(?<![\w#])#(?:file:(?P<path>\S+)|(?P<name>selection|diagnostics|diff|buffer)\b)"
)
LANGUAGES = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "tsx", ".jsx": "jsx",
    ".lua": "lua", ".rs": "rust", ".go": "go", ".c": "c", ".h": "c", ".cpp": "cpp",
    ".java": "java", ".kt": "kotlin", ".rb": "ruby", ".sh": "sh", ".md": "markdown",
    ".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".el": "elisp",
    ".html": "html", ".css": "css", ".sql": "sql", ".php": "php", ".cs": "csharp",
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Reference:
    kind: str  # "file", "diagnostics" or "diff"
    uri: str | None = None
    range: types.Range | None = None
    path: str | None = None  # as typed after #file:, resolved against the folders
    items: tuple[str, ...] | None = None  # diagnostics the client gave


@dataclasses.dataclass(frozen=True)
class Block:
    name: str  # how the history and the prompt name it
    heading: str
    text: str
    language: str | None = ""  # the code fence's; None: plain text, no fence


# -- parsing (pure)


def parse_references(value: Any) -> list[Reference]:
    """`references`: `{uri, range?}`, `{diagnostics: uri, items?}` or `{diff: true}`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("`references` must be a list", COMMAND)
    if len(value) > MAX_REFERENCES:
        raise invalid(f"at most {MAX_REFERENCES} references may come with a message", COMMAND)
    return [_parse_one(item, number) for number, item in enumerate(value)]


def _parse_one(item: Any, number: int) -> Reference:
    where = f"`references[{number}]`"
    if not isinstance(item, dict):
        raise invalid(
            f"{where} must be an object: {{uri, range?}}, {{diagnostics}} or {{diff}}", COMMAND
        )
    if item.get("diff") is True:
        return Reference("diff")
    if "diagnostics" in item:
        uri = item["diagnostics"]
        if not isinstance(uri, str) or not uri:
            raise invalid(f"{where}.diagnostics must be the document's URI", COMMAND)
        return Reference("diagnostics", uri=uri, items=_diagnostic_items(item.get("items"), where))
    uri = item.get("uri")
    if not isinstance(uri, str) or not uri:
        raise invalid(f"{where} needs a `uri` (or `diagnostics`, or `diff: true`)", COMMAND)
    return Reference("file", uri=uri, range=parse_range(item.get("range"), COMMAND))


def _diagnostic_items(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(f"{where}.items must be a list of diagnostics", COMMAND)
    return tuple(describe_diagnostic(item, f"{where}.items") for item in value)


def describe_diagnostic(item: Any, where: str = "a diagnostic") -> str:
    """An LSP Diagnostic object (or a string) as one line: where, source, message."""
    if isinstance(item, str):
        return item
    if isinstance(item, types.Diagnostic):
        item = {"range": {"start": {"line": item.range.start.line}}, "message": item.message,
                "source": item.source}  # fmt: skip
    try:
        line = int(item["range"]["start"]["line"]) + 1
        message = str(item["message"])
    except (TypeError, KeyError, ValueError):
        raise invalid(
            f"{where} must hold LSP diagnostics ({{range, message}}) or strings", COMMAND
        ) from None
    source = f"{item['source']}: " if item.get("source") else ""
    return f"line {line}: {source}{message}"


def references_in_message(
    message: str, uri: str | None, range_: types.Range | None
) -> list[Reference]:
    """`#file:PATH`, `#selection`, `#buffer`, `#diagnostics` and `#diff` in the text."""
    found: list[Reference] = []
    for match in TAGS.finditer(message):
        if match.group("path"):
            found.append(Reference("file", path=match.group("path").rstrip(".,;:!?)`\"'")))
            continue
        name = match.group("name")
        if name == "diff":
            found.append(Reference("diff"))
            continue
        if uri is None:
            raise invalid(
                f"#{name} needs the current document: send `uri` with the message", COMMAND
            )
        if name == "selection":
            if range_ is None or range_.start == range_.end:
                raise invalid("#selection: nothing is selected (send `range`)", COMMAND)
            found.append(Reference("file", uri=uri, range=range_))
        elif name == "buffer":
            found.append(Reference("file", uri=uri))
        else:
            found.append(Reference("diagnostics", uri=uri))
    return found


def unique(references: Sequence[Reference]) -> list[Reference]:
    seen: list[Reference] = []
    for reference in references:
        if reference not in seen:
            seen.append(reference)
    return seen


def prompt_with(message: str, blocks: Sequence[Block]) -> str:
    """The message followed by each reference as a block named by its file."""
    parts = [message.strip()]
    for block in blocks:
        if block.language is None:
            parts.append(f"{block.heading}:\n{block.text}")
            continue
        fence = fence_for(block.text)
        body = block.text.removesuffix("\n")
        parts.append(f"{block.heading}:\n{fence}{block.language}\n{body}\n{fence}")
    return "\n\n".join(parts)


def cut(text: str, limit: int = MAX_BLOCK_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... cut here: {len(text) - limit} more characters were left out ...]"


# -- reading


async def read(ls: MetaAILanguageServer, references: Sequence[Reference]) -> list[Block]:
    roots = workspace_roots(ls)
    blocks: list[Block] = []
    for reference in unique(references):
        if reference.kind == "diff":
            blocks += await _git_diffs(roots)
        elif reference.kind == "diagnostics":
            blocks.append(_diagnostics_block(ls, reference, roots))
        else:
            blocks.append(await _file_block(ls, reference, roots))
    total = sum(len(block.text) for block in blocks)
    if total > MAX_TOTAL_CHARS:
        raise invalid(
            f"the references hold {total:,} characters, more than the {MAX_TOTAL_CHARS:,} one "
            "message may bring: reference fewer files, or selections of them",
            COMMAND,
        )
    return blocks


def workspace_roots(ls: MetaAILanguageServer) -> list[str]:
    """The workspace folders' real paths (the root URI when the client gave no folders)."""
    uris = [folder.uri for folder in ls.workspace.folders.values()]
    if not uris and ls.workspace.root_uri:
        uris = [ls.workspace.root_uri]
    paths = (to_fs_path(uri) for uri in uris if uri.startswith("file:"))
    return [os.path.realpath(path) for path in paths if path]


def _inside(path: str, roots: Sequence[str]) -> str | None:
    """The root that holds ``path`` (a real path), if any."""
    for root in roots:
        with contextlib.suppress(ValueError):
            if os.path.commonpath([root, path]) == root:
                return root
    return None


def display_name(path: str, roots: Sequence[str]) -> str:
    root = _inside(path, roots)
    return os.path.relpath(path, root) if root else os.path.basename(path)


def _language(name: str, document_language: str | None = None) -> str:
    return document_language or LANGUAGES.get(os.path.splitext(name)[1].lower(), "")


async def _file_block(
    ls: MetaAILanguageServer, reference: Reference, roots: Sequence[str]
) -> Block:
    uri, shown = _locate(reference, roots, ls)
    document = ls.workspace.text_documents.get(uri)
    if document is not None:
        text, language = document.source, document.language_id
        _check_text(text, shown)
    else:
        text, language = await asyncio.to_thread(_read_inside, uri, shown, roots), None
    name, heading = shown, f"File `{shown}`"
    if reference.range is not None:
        text, lines = _slice(text, reference.range, ls.position_encoding, shown)
        name, heading = f"{shown}:{lines}", f"File `{shown}`, lines {lines}"
    return Block(name, heading, cut(text), _language(shown, language))


def _locate(
    reference: Reference, roots: Sequence[str], ls: MetaAILanguageServer
) -> tuple[str, str]:
    """The reference's URI and the name the prompt gives it."""
    if reference.path is not None:
        return _resolve_path(reference.path, roots)
    uri = reference.uri or ""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path is None:
        if uri in ls.workspace.text_documents:
            return uri, uri  # an editor's own document (untitled:...), as the editor named it
        raise invalid(f"{uri} is neither an open document nor a file", COMMAND)
    return uri, display_name(os.path.realpath(path), roots)


def _resolve_path(typed: str, roots: Sequence[str]) -> tuple[str, str]:
    if not roots:
        raise invalid(f"#file:{typed}: there is no workspace folder to find it in", COMMAND)
    expanded = os.path.expanduser(typed)
    candidates = (
        [expanded] if os.path.isabs(expanded) else [os.path.join(r, expanded) for r in roots]
    )
    existing = next((c for c in candidates if os.path.lexists(c)), None)
    if existing is None:
        raise invalid(f"#file:{typed} was not found in the workspace folders", COMMAND)
    real = os.path.realpath(existing)
    if _inside(real, roots) is None:
        raise _outside(f"#file:{typed}", existing, roots)
    return from_fs_path(real) or "", display_name(real, roots)


def _outside(what: str, path: str, roots: Sequence[str]) -> Exception:
    folders = ", ".join(roots) or "none"
    how = "is a symlink to a place" if os.path.islink(path) else "is"
    return invalid(
        f"{what} {how} outside the workspace folders ({folders}); metaai-ls reads only files "
        "inside them (open the file in the editor to share it)",
        COMMAND,
    )


def _read_inside(uri: str, shown: str, roots: Sequence[str]) -> str:
    """A closed file's text: a regular text file inside the folders, of bounded size."""
    path = to_fs_path(uri) or ""
    if _inside(os.path.realpath(path), roots) is None:
        raise _outside(shown, path, roots)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise invalid(f"{shown} does not exist", COMMAND) from None
    except OSError as error:
        raise invalid(f"{shown} cannot be read ({error.strerror})", COMMAND) from None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise invalid(f"{shown} is not a regular file", COMMAND)
        _check_size(info.st_size, shown)
        data = file.read(MAX_BLOCK_CHARS * 4 + 4)
    whole = len(data) >= info.st_size
    if b"\0" in data[:8192]:
        raise _binary(shown)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=whole)
    except UnicodeDecodeError:
        raise _binary(shown) from None
    return text if whole else text + "\n"  # cut() adds the note below


def _check_text(text: str, shown: str) -> None:
    _check_size(len(text), shown)
    if "\0" in text[:8192]:
        raise _binary(shown)


def _check_size(size: int, shown: str) -> None:
    if size > MAX_FILE_BYTES:
        raise invalid(
            f"{shown} is {size / (1 << 20):.1f} MB, larger than the {MAX_FILE_BYTES >> 20} MB a "
            "reference may be: reference a selection of it instead",
            COMMAND,
        )


def _binary(shown: str) -> Exception:
    return invalid(f"{shown} is a binary file: only text files can be references", COMMAND)


def _slice(text: str, range_: types.Range, encoding: str, shown: str) -> tuple[str, str]:
    index = TextIndex(text, encoding)
    for position in (range_.start, range_.end):
        if not index.contains(position):
            raise invalid(
                f"the range of {shown} (line {position.line + 1}) is outside it: it has "
                f"{index.line_count} lines",
                COMMAND,
            )
    start, end = index.offset(range_.start), index.offset(range_.end)
    # A selection of whole lines ends at the start of the next one.
    last = max(range_.start.line, range_.end.line - (range_.end.character == 0))
    return text[start:end], f"{range_.start.line + 1}-{last + 1}"


def _diagnostics_block(
    ls: MetaAILanguageServer, reference: Reference, roots: Sequence[str]
) -> Block:
    uri = reference.uri or ""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    shown = display_name(os.path.realpath(path), roots) if path else uri
    items = reference.items if reference.items is not None else ls.diagnostics_seen.get(uri, ())
    listed = "\n".join(f"- {item}" for item in items) or "(none reported)"
    return Block(f"diagnostics of {shown}", f"Problems reported in `{shown}`", cut(listed), None)


async def _git_diffs(roots: Sequence[str]) -> list[Block]:
    if not roots:
        raise invalid("#diff: there is no workspace folder to run `git diff` in", COMMAND)
    blocks = []
    for root in roots:
        text = await git_diff(root)
        name = os.path.basename(root) or root
        heading = f"The output of `git diff` in the workspace folder `{name}`"
        blocks.append(Block(f"git diff of {name}", heading, cut(text or "(no changes)"), "diff"))
    return blocks


async def git_diff(folder: str) -> str:
    """`git diff HEAD` (staged and unstaged changes; plain `git diff` before the first
    commit), read up to the block's bound, in at most GIT_TIMEOUT seconds."""
    for revision in (["HEAD"], []):
        code, output = await _git(folder, ["diff", "--no-color", "--no-ext-diff", *revision])
        if code == 0:
            return output
    raise invalid(
        f"#diff: `git diff` failed in {folder} ({output.strip()[:200] or 'no output'}); is it "
        "a git repository?",
        COMMAND,
    )


async def _git(folder: str, arguments: list[str]) -> tuple[int, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            "git", "-C", folder, "--no-pager", *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )  # fmt: skip
    except FileNotFoundError:
        raise invalid("#diff: git is not installed (or not on PATH)", COMMAND) from None
    assert process.stdout is not None
    try:
        data = await asyncio.wait_for(process.stdout.read(MAX_BLOCK_CHARS * 4), GIT_TIMEOUT)
    except asyncio.TimeoutError:
        data = b""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()  # the rest is not needed: the block is cut there anyway
    code = await process.wait()
    return (0 if code in (0, -9) and data else code), data.decode("utf-8", "replace")

"""`metaai-ls doctor`: the setup checked step by step, one line each, stopping at the first
failure with what to do. Shared by the CLI and the language server's `metaai.doctor`.

No step ever shows a cookie, token or key value: names, sources, sizes and statuses only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from .doors import DoorOptions, cookies_from_file
from .errors import LoginRequiredError, MetaAIError
from .files import world_readable
from .transport import display_url


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    help: str = ""
    warning: bool = False  # passed, but something needs doing (a mark of its own)

    def line(self) -> str:
        mark = "!" if self.warning else "✓" if self.ok else "✗"
        text = f"{mark} {self.name}: {self.detail}"
        return text + (f"\n  → {self.help}" if self.help else "")


def summary(steps: list[Step]) -> str:
    if not all(step.ok for step in steps):
        return "A check failed: see → above."
    warnings = sum(step.warning for step in steps)
    if warnings:
        return f"All checks passed, with {warnings} warning{'s' * (warnings > 1)} (!) above."
    return "All checks passed."


@dataclasses.dataclass
class DoctorOptions(DoorOptions):
    send: bool = False  # also ask a one-word question


class _Failed(Exception):
    def __init__(self, step: Step) -> None:
        self.step = step


async def diagnose(options: DoctorOptions) -> AsyncIterator[Step]:
    """Each step as it is checked; the last one failed if any did."""
    steps = _api_steps(options) if options.backend == "api" else _account_steps(options)
    try:
        async for step in steps:
            yield step
    except _Failed as failure:
        yield failure.step


def _fail(name: str, error: BaseException | str, help: str = "") -> _Failed:
    if isinstance(error, MetaAIError):
        return _Failed(Step(name, False, type(error).__name__, help or error.message))
    return _Failed(Step(name, False, str(error), help))


async def _account_steps(options: DoctorOptions) -> AsyncIterator[Step]:
    from .client import MetaAIAccount, dialect_of
    from .conversation import Conversation
    from .cookies import get_cookies
    from .gateway import GatewayDialect
    from .home import load_home

    source = options.cookies_file or os.environ.get("METAAI_COOKIES")
    try:
        cookies = await cookies_from_file(options.cookies_file) or await asyncio.to_thread(
            get_cookies, ".meta.ai", True, True
        )
    except MetaAIError as error:
        raise _fail("cookies", error) from None
    where = source or "your browsers (browser-cookie3)"
    names = ", ".join(sorted(cookies))
    yield Step("cookies", True, f"{len(cookies)} for .meta.ai from {where} ({names})")
    if source and world_readable(os.path.expanduser(source)):
        path = os.path.expanduser(source)
        yield Step(
            "cookie file",
            True,
            "readable by other users of this machine: it holds your login",
            f"chmod 600 {path}",
            warning=True,
        )
    client = MetaAIAccount(
        options.proxy,
        url=options.url,
        graph_url=options.graph_url,
        gateway_url=options.gateway_url,
        protocol=options.protocol,
    )
    try:
        client.require_login(cookies)
        model, _ = client.ids.model(options.model)
    except MetaAIError as error:
        raise _fail("login cookie", error) from None
    login = [n for n in ("gateway", "abra") if client.ids.login_cookie(n) in cookies]
    yield Step("login cookie", True, ", ".join(f"`{client.ids.login_cookie(n)}`" for n in login))
    async with client:
        started = time.monotonic()
        try:
            home = await load_home(client.transport, client.web_url, cookies, client.ids)
        except MetaAIError as error:
            raise _fail("home page", error) from None
        challenge = "challenge page solved" if home.challenge_solved else "no challenge"
        where = display_url(client.web_url)
        yield Step("home page", True, f"{where} answered ({challenge}, {_ms(started)})")
        token = home.access_token(client.ids)
        lsd, _ = home.abra_tokens()
        dialect = dialect_of(home, client.protocol, client.ids)
        if dialect is None:
            if home.mentions_token(client.ids):  # Meta changed its page: learn, not log in
                raise _fail("dialect", _token_error(home, client.ids))
            raise _fail(
                "dialect",
                "the page has no access token and no LSD token",
                LoginRequiredError("Your cookies hold no login.").message,
            )
        how = "METAAI_PROTOCOL/protocol" if client.protocol != "auto" else "told by the home page"
        yield Step("dialect", True, f"{dialect} ({how})")
        if dialect == "abra":
            if not lsd:
                raise _fail("tokens", "the page has no LSD token", "Set METAAI_PROTOCOL=auto.")
            yield Step("tokens", True, "LSD token found (Abra dialect, g4f's)")
        else:
            if not token:
                raise _fail("token", _token_error(home, client.ids))
            yield Step("token", True, f"an ecto1 access token of {len(token)} characters")
            gateway = GatewayDialect(
                client.transport, client.ids, client.web_url, client.gateway_url, cookies, home
            )
            async for step in _handshake(gateway, token):
                yield step
        if options.send:
            async for step in _send(client, cookies, Conversation(), model):
                yield step


async def _handshake(gateway: Any, token: str) -> AsyncIterator[Step]:
    from .gateway import Rejected

    started = time.monotonic()
    try:
        await gateway.handshake(token)
    except Rejected:
        raise _fail(
            "gateway", "the gateway closed the stream before acknowledging it", "Log in again."
        ) from None
    except MetaAIError as error:
        raise _fail(f"gateway {gateway.last_phase}", error) from None
    where = display_url(gateway.gateway_url)
    yield Step("gateway", True, f"{where}: handshake and acknowledgement ({_ms(started)})")


async def _send(client: Any, cookies: Any, conversation: Any, model: str) -> AsyncIterator[Step]:
    started = time.monotonic()
    parts: list[str] = []
    try:
        async for chunk in client.prompt(
            "Answer with one word: ready?", cookies, conversation, model
        ):
            parts.append(str(chunk))
    except MetaAIError as error:
        raise _fail("answer", error) from None
    answer = "".join(parts).strip()
    yield Step("answer", True, f"{len(answer)} characters in {_ms(started)} ({answer[:40]!r})")


async def _api_steps(options: DoctorOptions) -> AsyncIterator[Step]:
    from .api import MetaModelAPI, api_key_from

    try:
        key, source = await asyncio.to_thread(api_key_from, options.api_key_file)
    except MetaAIError as error:
        raise _fail("API key", error) from None
    yield Step("API key", True, f"{len(key)} characters from {source}")
    client = MetaModelAPI(options.proxy, api_key=key, api_url=options.api_url)
    async with client:
        started = time.monotonic()
        try:
            models = await client.list_models()
        except MetaAIError as error:
            raise _fail("models", error) from None
        yield Step(
            "models",
            True,
            f"{display_url(client.api_url)} offers {', '.join(models)} ({_ms(started)})",
        )
        model = client.model_name(options.model)
        if model not in models:
            raise _fail("model", f"{model!r} is not offered", f"Set `model` to one of {models}.")
        yield Step("model", True, model)
        if options.send:
            started = time.monotonic()
            parts: list[str] = []
            try:
                async for delta in client.chat(model, [{"role": "user", "content": "Say: ready"}]):
                    parts.append(delta)
            except MetaAIError as error:
                raise _fail("answer", error) from None
            answer = "".join(parts).strip()
            yield Step("answer", True, f"{len(answer)} characters in {_ms(started)}")


def _token_error(home: Any, ids: Any) -> MetaAIError:
    """The error the page's missing token means (a changed page, or no login)."""
    try:
        home.require_token(ids)
    except MetaAIError as error:
        return error
    raise AssertionError("a token was found")


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


async def report(options: DoctorOptions) -> tuple[bool, list[Step]]:
    steps = [step async for step in diagnose(options)]
    return all(step.ok for step in steps), steps

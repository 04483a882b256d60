"""Every failure the provider raises, each with a sentence a person can act on.

No message ever contains a cookie value: messages are built from fixed text, file
paths, HTTP statuses and Meta AI's own error texts only, and every message passes
through ``redact`` (Meta's texts may echo the request's cookies or token).
"""

from __future__ import annotations

from metaai_ls.redact import redact

LOGIN_HELP = (
    "Log in at https://www.meta.ai in Firefox, Chrome, Chromium, Edge, Brave or Opera "
    "on this machine, or export your meta.ai cookies to a file and point METAAI_COOKIES "
    "(or the `cookiesFile` setting, or `--cookies`) at it."
)


class MetaAIError(Exception):
    """Base of every error metaai-ls's provider raises."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message


LEARN_STEPS = (
    "teach metaai-ls the new client from your browser:\n"
    "  1. open https://www.meta.ai in Chrome, Edge or Brave, and its devtools' Network panel (F12);\n"
    "  2. start a new chat and send the message: metaai-ls learn (one follow-up is welcome);\n"
    '  3. export the Network panel as a HAR file (the ⤓ button, "Export HAR");\n'
    "  4. run: metaai-ls learn FILE.har (editors: Meta AI: Learn from a browser capture)."
)
MAYBE_CHANGED = (
    "Meta may have changed its web client: `metaai-ls learn --help` says how to teach "
    "metaai-ls the new one."
)
API_KEY_HELP = (
    "Create a Meta Model API key (it looks like LLM|…|…) on Meta's developer site for the "
    "Model API, the API served at https://api.meta.ai/v1, and put it in MODEL_API_KEY (or "
    "METAAI_API_KEY, META_API_KEY, META_MODEL_API_KEY), or in a file named by the "
    "`apiKeyFile` setting or `--api-key-file`."
)


class LoginRequiredError(MetaAIError):
    """No meta.ai login (or API key) was found."""

    exit_code = 3

    def __init__(self, detail: str = "No meta.ai login was found.", help: str = LOGIN_HELP) -> None:
        super().__init__(f"{detail} {help}")


class LoginExpiredError(LoginRequiredError):
    """Meta AI refused the cookies given (logged out, expired or revoked)."""

    def __init__(self, status: int | None = None, reason: str = "") -> None:
        detail = "Meta AI did not accept your login"
        detail += f" (HTTP {status})." if status else f" ({reason})." if reason else "."
        super().__init__(detail + " Your meta.ai session has probably expired.")


NO_TOKEN = "the home page holds no access token for your cookies"


class ApiKeyError(LoginRequiredError):
    """No API key for the Meta Model API, or one it refused."""

    def __init__(self, detail: str = "No Meta Model API key was found.") -> None:
        super().__init__(detail, API_KEY_HELP)


class KeyFileError(ApiKeyError):
    """An API key file that cannot be read (a configuration error, as a cookie file's)."""

    exit_code = 2


class CookieFileError(MetaAIError):
    """A cookie file that cannot be read or understood (a configuration error)."""

    exit_code = 2

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(
            f"The cookie file {path} {problem}. Give a JSON object {{name: value}}, a JSON "
            "list exported by a browser cookie extension, or a Netscape cookies.txt file."
        )
        self.path = path


class GeoBlockedError(MetaAIError):
    exit_code = 4

    def __init__(self) -> None:
        super().__init__(
            "Meta AI is not available in your country yet (AbraGeoBlockedError). "
            "Use a proxy in a supported country (`proxy` setting or `--proxy`)."
        )


class RateLimitedError(MetaAIError):
    exit_code = 5

    def __init__(self, retry_after: str | None = None, who: str = "this account") -> None:
        wait = f"after {retry_after} seconds" if retry_after else "in a few minutes"
        super().__init__(f"Meta AI is rate limiting {who} (HTTP 429). Try again {wait}.")
        self.retry_after = retry_after


class SomethingWentWrongError(MetaAIError):
    exit_code = 6

    def __init__(self) -> None:
        super().__init__(
            "Meta AI answered with its 'Something Went Wrong' page. This is usually "
            "temporary: try again; if it persists, log in again at https://www.meta.ai."
        )


class BlockedError(MetaAIError):
    exit_code = 6

    def __init__(self) -> None:
        super().__init__(
            "Meta AI's security system blocked this request. Open https://www.meta.ai in your "
            "browser, check that you can chat there, then try again (re-export your cookies "
            "if you use a cookie file)."
        )


class ClientChangedError(MetaAIError):
    """Meta's web client changed: an identifier, field or page the provider relies on."""

    exit_code = 6

    def __init__(self, detail: str) -> None:
        super().__init__(f"Meta changed its web client ({detail}); {LEARN_STEPS}")
        self.detail = detail


class ConfigError(MetaAIError):
    """A setting, argument or identifiers file that cannot be used."""

    exit_code = 2


class ResponseErrorsError(MetaAIError):
    """A line of the answer carried Meta AI's ``errors`` list."""

    exit_code = 6

    def __init__(self, messages: list[str]) -> None:
        joined = "; ".join(m.rstrip(". ") for m in messages) or "no details"
        super().__init__(
            f"Meta AI reported an error: {joined}. Try again; if it keeps happening, "
            + MAYBE_CHANGED
        )
        self.errors = messages


class UnexpectedResponseError(MetaAIError):
    """An HTTP status or body the protocol does not explain."""

    exit_code = 6

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Meta AI sent an unexpected answer ({what}). Try again; if it keeps happening, "
            + MAYBE_CHANGED
        )


MAX_JSON_DEPTH = 1024  # orjson's limit; deeper JSON is refused before it costs a recursion


class NestedTooDeepError(UnexpectedResponseError):
    """JSON from Meta nested deeper than anything its protocols use."""

    def __init__(self) -> None:
        super().__init__(f"a message nested more than {MAX_JSON_DEPTH} levels deep")


class AnswerCutOffError(MetaAIError):
    """The stream ended before Meta AI said the answer was complete."""

    exit_code = 7

    def __init__(self, received: int) -> None:
        super().__init__(
            f"Meta AI's answer was cut off after {received} characters, before it was "
            "complete. Ask again."
        )
        self.received = received


class AnswerTooLongError(AnswerCutOffError):
    """The answer passed the cap (METAAI_MAX_ANSWER_MB): stopped there."""

    def __init__(self, limit: int) -> None:
        MetaAIError.__init__(
            self,
            f"Meta AI's answer passed the limit of {limit / (1 << 20):.3g} MB and was stopped "
            "there, before it was complete. Ask for a shorter answer, or raise the limit "
            "(METAAI_MAX_ANSWER_MB, the `maxAnswerMB` setting).",
        )
        self.received = limit


class OutputLimitError(AnswerCutOffError):
    """The Meta Model API stopped at its output limit (``finish_reason: "length"``)."""

    def __init__(self, received: int, max_tokens: int) -> None:
        where = (
            f"after {received} characters, before it was complete"
            if received
            else "before any text (the model spent it on reasoning)"
        )
        MetaAIError.__init__(
            self,
            f"Meta AI's answer hit the output limit ({max_tokens} tokens) {where}. Ask for "
            "less at once, or choose another model (`model`, `--model`).",
        )
        self.received = received


class MetaAITimeoutError(MetaAIError):
    exit_code = 8

    def __init__(self, seconds: float, phase: str) -> None:
        super().__init__(
            f"Meta AI did not answer within {seconds:g} seconds ({phase}). Check your "
            "connection or proxy, or raise METAAI_READ_TIMEOUT / METAAI_CONNECT_TIMEOUT "
            "(METAAI_FIRST_TEXT_TIMEOUT for a slow first answer)."
        )


class AskTimeoutError(MetaAITimeoutError):
    """The whole ask took longer than its deadline, whatever kept it busy."""

    def __init__(self, seconds: float, phase: str) -> None:
        MetaAIError.__init__(
            self,
            f"Meta AI's answer did not end within {seconds:g} seconds in all ({phase}); "
            "activity without answer text does not keep an ask going for ever. Ask again, "
            "or raise METAAI_ASK_TIMEOUT (the `askTimeout` setting) for very long answers.",
        )


class ConnectionFailedError(MetaAIError):
    exit_code = 8

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(
            f"Could not reach Meta AI at {host} ({reason}). Check your network, the "
            "`proxy` setting and METAAI_URL / METAAI_GATEWAY_URL / METAAI_API_URL."
        )


class ProxyConfigError(MetaAIError):
    exit_code = 2

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"The proxy setting {problem}. Give a URL such as http://127.0.0.1:3128 "
            "(socks5:// needs `pip install aiohttp-socks`)."
        )


def meta_text(value: object, limit: int = 300) -> str:
    """Text from Meta, for a message: redacted first, then cut (a cut secret would no
    longer be recognised)."""
    return redact(str(value))[:limit]


def error_from_text(message: str) -> MetaAIError:
    """The typed error for an error text from Meta (the protocol page's table)."""
    message = meta_text(message)
    lowered = message.lower()
    if "authentication required" in lowered or "login is required" in lowered:
        return LoginExpiredError()
    if any(w in lowered for w in ("rate limit", "limit exceeded", "too many requests")):
        return RateLimitedError()
    if "blocked by our security system" in lowered:
        return BlockedError()
    if "abrageoblockederror" in lowered:
        return GeoBlockedError()
    if any(w in lowered for w in ("unknown type", "persistedquerynotfound", "doc_id")):
        return ClientChangedError(f"Meta AI answered: {message[:200]}")
    return ResponseErrorsError([message])

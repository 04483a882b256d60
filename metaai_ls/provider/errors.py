"""Every failure the provider raises, each with a sentence a person can act on.

No message ever contains a cookie value: messages are built from fixed text, file
paths, HTTP statuses and Meta AI's own error texts only.
"""

from __future__ import annotations

LOGIN_HELP = (
    "Log in at https://www.meta.ai in Firefox, Chrome, Chromium, Edge, Brave or Opera "
    "on this machine, or export your meta.ai cookies to a file and point METAAI_COOKIES "
    "(or the `cookiesFile` setting, or `--cookies`) at it."
)


class MetaAIError(Exception):
    """Base of every error metaai-ls's provider raises."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LoginRequiredError(MetaAIError):
    """No meta.ai login was found."""

    exit_code = 3

    def __init__(self, detail: str = "No meta.ai login was found.") -> None:
        super().__init__(f"{detail} {LOGIN_HELP}")


class LoginExpiredError(LoginRequiredError):
    """Meta AI refused the cookies given (logged out, expired or revoked)."""

    def __init__(self, status: int | None = None) -> None:
        detail = "Meta AI did not accept your login"
        detail += f" (HTTP {status})." if status else "."
        super().__init__(detail + " Your meta.ai session has probably expired.")


class CookieFileError(MetaAIError):
    """A cookie file that cannot be read or understood."""

    exit_code = 3

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

    def __init__(self, retry_after: str | None = None) -> None:
        wait = f"after {retry_after} seconds" if retry_after else "in a few minutes"
        super().__init__(f"Meta AI is rate limiting this account (HTTP 429). Try again {wait}.")


class SomethingWentWrongError(MetaAIError):
    exit_code = 6

    def __init__(self) -> None:
        super().__init__(
            "Meta AI answered with its 'Something Went Wrong' page. This is usually "
            "temporary: try again; if it persists, log in again at https://www.meta.ai."
        )


class ResponseErrorsError(MetaAIError):
    """A line of the answer carried Meta AI's ``errors`` list."""

    exit_code = 6

    def __init__(self, messages: list[str]) -> None:
        joined = "; ".join(m.rstrip(". ") for m in messages) or "no details"
        super().__init__(
            f"Meta AI reported an error: {joined}. Try again; if it keeps happening, "
            "Meta may have changed its web client (see METAAI_IDENTIFIERS in the README)."
        )
        self.errors = messages


class UnexpectedResponseError(MetaAIError):
    """An HTTP status or body the protocol does not explain."""

    exit_code = 6

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Meta AI sent an unexpected answer ({what}). Try again; if it keeps happening, "
            "Meta may have changed its web client (see METAAI_IDENTIFIERS in the README)."
        )


class AnswerCutOffError(MetaAIError):
    """The stream ended before Meta AI said the answer was complete."""

    exit_code = 7

    def __init__(self, received: int) -> None:
        super().__init__(
            f"Meta AI's answer was cut off after {received} characters, before it was "
            "complete. Ask again."
        )
        self.received = received


class MetaAITimeoutError(MetaAIError):
    exit_code = 8

    def __init__(self, seconds: float, phase: str) -> None:
        super().__init__(
            f"Meta AI did not answer within {seconds:g} seconds ({phase}). Check your "
            "connection or proxy, or raise METAAI_READ_TIMEOUT / METAAI_CONNECT_TIMEOUT."
        )


class ConnectionFailedError(MetaAIError):
    exit_code = 8

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(
            f"Could not reach Meta AI at {host} ({reason}). Check your network, the "
            "`proxy` setting and METAAI_URL."
        )


class ProxyConfigError(MetaAIError):
    exit_code = 2

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"The proxy setting {problem}. Give a URL such as http://127.0.0.1:3128 "
            "(socks5:// needs `pip install aiohttp-socks`)."
        )

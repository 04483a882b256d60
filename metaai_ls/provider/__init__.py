"""Meta AI through the user's meta.ai account: a re-implementation of g4f's
``MetaAIAccount(MetaAI)`` provider on aiohttp. No LSP here."""

from .client import Conversation, MetaAI, MetaAIAccount, Result
from .cookies import Cookies, forget_cookies, get_cookies, load_cookie_file
from .errors import (
    AnswerCutOffError,
    ConnectionFailedError,
    CookieFileError,
    GeoBlockedError,
    LoginExpiredError,
    LoginRequiredError,
    MetaAIError,
    MetaAITimeoutError,
    ProxyConfigError,
    RateLimitedError,
    ResponseErrorsError,
    SomethingWentWrongError,
    UnexpectedResponseError,
)
from .identifiers import Identifiers, load_identifiers
from .prompt import Message, Messages, format_prompt
from .results import ImageResponse, Source, Sources

__all__ = [
    "AnswerCutOffError",
    "ConnectionFailedError",
    "Conversation",
    "CookieFileError",
    "Cookies",
    "GeoBlockedError",
    "Identifiers",
    "ImageResponse",
    "LoginExpiredError",
    "LoginRequiredError",
    "Message",
    "Messages",
    "MetaAI",
    "MetaAIAccount",
    "MetaAIError",
    "MetaAITimeoutError",
    "ProxyConfigError",
    "RateLimitedError",
    "ResponseErrorsError",
    "Result",
    "SomethingWentWrongError",
    "Source",
    "Sources",
    "UnexpectedResponseError",
    "forget_cookies",
    "format_prompt",
    "get_cookies",
    "load_cookie_file",
    "load_identifiers",
]

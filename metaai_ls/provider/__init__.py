"""Meta AI through the user's meta.ai account (the seed's ``MetaAIAccount(MetaAI)``
interface, speaking today's gateway dialect or g4f's Abra dialect) and through the
official Meta Model API (``MetaModelAPI``). No LSP here."""

from .api import MetaModelAPI, api_key_from
from .client import MetaAI, MetaAIAccount
from .conversation import Conversation
from .cookies import Cookies, forget_cookies, get_cookies, load_cookie_file
from .errors import (
    AnswerCutOffError,
    ApiKeyError,
    AskTimeoutError,
    BlockedError,
    ClientChangedError,
    ConfigError,
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
from .results import ImageResponse, Result, Revision, Source, Sources

__all__ = [
    "AnswerCutOffError",
    "ApiKeyError",
    "AskTimeoutError",
    "BlockedError",
    "ClientChangedError",
    "ConfigError",
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
    "MetaModelAPI",
    "ProxyConfigError",
    "RateLimitedError",
    "ResponseErrorsError",
    "Result",
    "Revision",
    "SomethingWentWrongError",
    "Source",
    "Sources",
    "UnexpectedResponseError",
    "api_key_from",
    "forget_cookies",
    "format_prompt",
    "get_cookies",
    "load_cookie_file",
    "load_identifiers",
]

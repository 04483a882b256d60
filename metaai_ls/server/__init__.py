"""The language server: LSP wiring only; it reaches Meta AI through the provider."""

from .features import create_server
from .server import MetaAILanguageServer

__all__ = ["MetaAILanguageServer", "create_server"]

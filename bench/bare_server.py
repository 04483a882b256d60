"""The floor for any pygls server: no features, started the same way as metaai-ls."""

from pygls.lsp.server import LanguageServer

if __name__ == "__main__":
    LanguageServer("bare", "0").start_io()

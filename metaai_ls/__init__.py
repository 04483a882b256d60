"""metaai-ls: Meta AI, through your own meta.ai account, in every editor."""

__version__ = "0.2.0"

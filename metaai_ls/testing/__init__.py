"""A faithful local fake of Meta AI, for tests, benchmarks and offline demos."""

from .fake_meta import SCENARIOS, FakeAnswer, FakeMetaAI, RecordedRequest, SentMessage

__all__ = ["SCENARIOS", "FakeAnswer", "FakeMetaAI", "RecordedRequest", "SentMessage"]

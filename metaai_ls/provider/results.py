"""Non-text results: each renders as Markdown through ``str()``."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Source:
    title: str
    link: str


@dataclasses.dataclass(frozen=True)
class Sources:
    """The web pages Meta AI cited, shown after the answer."""

    sources: tuple[Source, ...]

    def __str__(self) -> str:
        links = "\n".join(f"- [{s.title or s.link}]({s.link})" for s in self.sources)
        return f"\n\nSources:\n{links}"


@dataclasses.dataclass(frozen=True)
class ImageResponse:
    """Images Meta AI generated (the final ones, not the streamed previews)."""

    urls: tuple[str, ...]
    prompt: str

    def __str__(self) -> str:
        alt = self.prompt.replace("]", ")").replace("[", "(").replace("\n", " ")
        return "\n\n" + "\n".join(f"![{alt}]({url})" for url in self.urls)


@dataclasses.dataclass(frozen=True)
class Revision:
    """Meta AI's final answer where it disagrees with the text streamed before it.

    The final answer is authoritative: a consumer replaces what it showed with ``text``.
    """

    text: str

    def __str__(self) -> str:
        return f"\n\n---\n*Meta AI revised its answer; the final version:*\n\n{self.text}"


Result = str | ImageResponse | Sources | Revision

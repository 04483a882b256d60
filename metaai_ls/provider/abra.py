"""The Abra dialect (g4f's, dead on the live site since 2025; kept for g4f compatibility
and for hosts that still speak it): form-encoded GraphQL with LSD/DTSG tokens, the answer
as JSON lines of cumulative snippets."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from metaai_ls.redact import remember

from . import decode
from .cookies import forget_cookies
from .errors import AnswerCutOffError, UnexpectedResponseError
from .home import HomePage, extract_value
from .identifiers import Identifiers
from .results import Result, Source, Sources
from .stream import AnswerStream
from .transport import (
    MAX_ERROR_BYTES,
    MAX_JSON_BYTES,
    Transport,
    check_status,
    cookie_header,
    line_limit,
    lines,
    read_text,
)

if TYPE_CHECKING:
    from .conversation import Conversation

logger = logging.getLogger(__name__)


def generate_offline_threading_id() -> str:
    """Milliseconds shifted left by 22 bits, OR 22 random bits, as the web client does."""
    return str((int(time.time() * 1000) << 22) | random.getrandbits(22))


class AbraDialect:
    name = "abra"

    def __init__(
        self,
        transport: Transport,
        ids: Identifiers,
        web_url: str,
        graph_url: str,
        home: HomePage,
        with_login: bool,
    ) -> None:
        self.transport = transport
        self.ids = ids
        self.abra = ids["abra"]
        self.web_url = web_url
        self.graph_url = graph_url
        self.with_login = with_login
        self.lsd, self.dtsg = home.abra_tokens()
        if not self.lsd:
            raise UnexpectedResponseError("the home page has no LSD token")
        self.cookies = home.cookies
        if not with_login:
            # A visitor's cookies are in the page, not in Set-Cookie.
            names = ("_js_datr", "abra_csrf", "datr")
            # The leading quote keeps "datr" from matching inside "_js_datr".
            found = {n: _page_value(home.text, n) for n in names}
            self.cookies = {n: v for n, v in found.items() if v}
        self.access_token: str | None = None

    async def ask(
        self, prompt: str, conversation: Conversation, model: str
    ) -> AsyncIterator[Result]:
        if not self.with_login and self.access_token is None:
            await self._accept_terms()
        conversation.start()
        stream = AnswerStream(self.transport.max_answer)
        with self.transport.errors("while Meta AI was answering", lambda: stream.length):
            async for result in self._send(prompt, conversation.id, stream):
                yield result
        conversation.turns += 1
        if stream.fetch_id is not None and (sources := await self.fetch_sources(stream.fetch_id)):
            yield sources

    async def _accept_terms(self) -> None:
        """Accept the terms as a temporary user and keep its access token."""
        form = {
            "lsd": self.lsd,
            "fb_api_caller_class": "RelayModern",
            "fb_api_req_friendly_name": self.abra["accept_tos_name"],
            "variables": json.dumps(
                {
                    "dob": self.abra["temp_user_birthday"],
                    "icebreaker_type": "TEXT",
                    "__relay_internal__pv__WebPixelRatiorelayprovider": 1,
                }
            ),
            "doc_id": self.abra["accept_tos_doc_id"],
        }
        headers = {
            **cookie_header(self.cookies),
            "x-fb-friendly-name": self.abra["accept_tos_name"],
            "x-fb-lsd": self.lsd,
            "x-asbd-id": self.ids["asbd_id"],
        }
        url = self.web_url + self.abra["graphql_path"]
        with self.transport.errors("creating a temporary user"):
            async with self.transport.session.post(
                url, data=form, headers=headers, proxy=self.transport.http_proxy
            ) as response:
                text = await read_text(response, MAX_JSON_BYTES, "the answer to the terms")
                check_status(response.status, text, False, response.headers)
        try:
            auth = decode.loads(text)["data"]["xab_abra_accept_terms_of_service"]
            self.access_token = auth["new_temp_user_auth"]["access_token"]
            remember(self.access_token)
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponseError("no access token for the temporary user") from None

    async def fetch_sources(self, fetch_id: str) -> Sources | None:
        """The references of a search-backed answer; None when there are none."""
        url, form, headers = self._request(self.abra["sources_name"], self.abra["sources_doc_id"])
        form["variables"] = json.dumps({"abraMessageFetchID": fetch_id})
        try:
            async with self.transport.session.post(
                url, data=form, headers=headers, proxy=self.transport.http_proxy
            ) as response:
                if response.status >= 400:
                    logger.warning("sources: HTTP %s", response.status)
                    return None
                data = decode.loads(await read_text(response, MAX_JSON_BYTES, "the sources"))
            references = data["data"]["message"]["searchResults"]["references"]
        except (ValueError, KeyError, TypeError):
            return None  # no sources for this answer
        except Exception as error:  # the answer is complete; sources are a bonus
            logger.warning("could not fetch sources: %s", type(error).__name__)
            return None
        sources = tuple(
            Source(str(ref.get("title") or ""), str(ref["link"]))
            for ref in references
            if isinstance(ref, dict) and ref.get("link")
        )
        return Sources(sources) if sources else None

    async def _send(
        self, message: str, conversation_id: str, stream: AnswerStream
    ) -> AsyncIterator[Result]:
        url, form, headers = self._request(
            self.abra["send_message_name"], self.abra["send_message_doc_id"]
        )
        form["variables"] = json.dumps(self._send_variables(message, conversation_id))
        logger.debug("sending a prompt of %d characters to %s", len(message), url)
        async with self.transport.session.post(
            url, data=form, headers=headers, proxy=self.transport.http_proxy
        ) as response:
            if response.status >= 400:
                body = await read_text(response, MAX_ERROR_BYTES, "Meta AI's error page")
                check_status(
                    response.status, body, self.with_login, response.headers, forget_cookies
                )
            limit = line_limit(self.transport.max_answer)
            async for line in lines(response.content, limit, "Meta AI's answer"):
                for result in stream.feed(line):
                    yield result
        if not stream.done:
            raise AnswerCutOffError(stream.length)

    def _send_variables(self, message: str, conversation_id: str) -> dict[str, Any]:
        return {
            "message": {"sensitive_string_value": message},
            "externalConversationId": conversation_id,
            "offlineThreadingId": generate_offline_threading_id(),
            "suggestedPromptIndex": None,
            "flashVideoRecapInput": {"images": []},
            "flashPreviewInput": None,
            "promptPrefix": None,
            "entrypoint": self.abra["entrypoint"],
            "icebreaker_type": "TEXT",
            "__relay_internal__pv__AbraDebugDevOnlyrelayprovider": False,
            "__relay_internal__pv__WebPixelRatiorelayprovider": 1,
        }

    def _request(self, friendly_name: str, doc_id: str) -> tuple[str, dict, dict]:
        """URL, form and headers for a GraphQL call, as the account or the temp user."""
        headers = {
            **cookie_header(self.cookies),
            "origin": self.web_url,
            "referer": self.web_url + "/",
            "x-asbd-id": self.ids["asbd_id"],
            "x-fb-friendly-name": friendly_name,
        }
        if self.access_token is None:
            url = self.web_url + self.abra["graphql_path"]
            form = {"lsd": self.lsd, "fb_dtsg": self.dtsg or ""}
            headers["x-fb-lsd"] = self.lsd
        else:
            url = self.graph_url + self.abra["graph_graphql_path"]
            form = {"access_token": self.access_token}
        form |= {
            "fb_api_caller_class": "RelayModern",
            "fb_api_req_friendly_name": friendly_name,
            "server_timestamps": "true",
            "doc_id": doc_id,
        }
        return url, form, headers


def _page_value(text: str, name: str) -> str | None:
    return extract_value(text, f'"{name}":{{"value":"')

"""What the newest clients tolerate (issue 17 §2), each against the fake: the token in
either form, an unknown shape as a changed page, the challenge page whatever its status,
a current Chrome User-Agent everywhere, the optional async flag, the page's viewer id."""

from __future__ import annotations

import dataclasses

import pytest

from metaai_ls.provider import ClientChangedError, LoginExpiredError
from metaai_ls.provider.identifiers import load_identifiers
from metaai_ls.testing.profiles import DEFAULT
from tests.test_gateway import collect

PLAIN = (
    '</script><script type="application/json">{"accessToken": "{token}", "viewerId": {viewer_id}}'
)
OTHER = dataclasses.replace(DEFAULT, account_id=1064847926714808)  # not the built-in id
UNKNOWN = '{"auth":{"accessToken":null},"session":["{token}"]}'


async def test_the_token_in_plain_json_works_too(fake_env, cookies):
    fake_env.profile = dataclasses.replace(OTHER, page=PLAIN)
    assert "".join(map(str, await collect(cookies))).startswith("Meta AI (offline fake)")
    assert fake_env.sent_messages()[0].fields["account_id"] == OTHER.account_id


async def test_a_token_in_an_unknown_shape_is_a_changed_page_not_a_lost_login(fake_env, cookies):
    fake_env.profile = dataclasses.replace(DEFAULT, page=UNKNOWN)
    with pytest.raises(ClientChangedError) as caught:
        await collect(cookies)
    assert "metaai-ls learn FILE.har" in caught.value.message
    assert "log in" not in caught.value.message.lower()
    fake_env.scenario = "expired"  # a page without any token is still the login
    with pytest.raises(LoginExpiredError):
        await collect(cookies)


@pytest.mark.parametrize("scenario", ["challenge", "challenge_200"])
async def test_the_challenge_is_solved_whatever_its_status(fake_env, cookies, scenario):
    fake_env.scenario = scenario
    await collect(cookies)
    paths = [r.path for r in fake_env.requests]
    assert paths[:3] == ["/", "/__rd_verify_fake7c1", "/"] and fake_env.sent_messages()


async def test_a_current_chrome_everywhere(fake_env, cookies):
    await collect(cookies)
    agents = {r.path: r.headers.get("User-Agent", "") for r in fake_env.requests}
    assert set(agents) == {"/", "/api/graphql", "/ws/clippy"}
    assert all("Chrome/152." in agent for agent in agents.values()), agents
    assert "Chrome/152." in fake_env.sent_messages()[0].fields["user_agent"]


async def test_the_async_flag_is_data_and_off_by_default(fake_env, cookies):
    await collect(cookies)
    await collect(cookies, identifiers={"gateway": {"send_optional_query": True}})
    off, on = (r.query for r in fake_env.requests if r.path == "/ws/clippy")
    assert "x-dgw-app-clippy-async" not in off and on["x-dgw-app-clippy-async"] == "true"


async def test_the_account_id_is_the_pages_viewer_id_even_with_a_cached_token(fake_env, cookies):
    fake_env.profile = OTHER
    await collect(cookies)
    await collect(cookies)  # the token comes from the cache: no page read
    assert [r.path for r in fake_env.requests].count("/") == 1
    ids = [m.fields["account_id"] for m in fake_env.sent_messages()]
    assert ids == [OTHER.account_id] * 2


async def test_without_a_viewer_id_the_account_id_is_the_identifiers(fake_env, cookies):
    fake_env.profile = dataclasses.replace(
        OTHER, page=PLAIN.replace(', "viewerId": {viewer_id}', "")
    )
    await collect(cookies)
    expected = load_identifiers()["gateway"]["account_id"]  # a captured account's, as others
    assert expected == DEFAULT.account_id != OTHER.account_id
    assert fake_env.sent_messages()[0].fields["account_id"] == expected

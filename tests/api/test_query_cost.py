"""The cost limit: documents whose page sizes multiply past PRACTICUM_MAX_QUERY_COST are
refused before they run, with the cost; the web UI's own queries stay well under it."""

from __future__ import annotations

import asyncio
import time

import pytest
from graphql import print_ast
from httpx import ASGITransport, AsyncClient

from api.accounts.models import Role
from api.app import create_app
from tests.factories.accounts import make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from ui.graphql.operations import all_documents

from .test_bad_input import token_for

GRAPHQL_RESPONSE = "application/graphql-response+json"

# The probe from the security review: within the depth, alias and token limits, it took
# 54 s and 12.7 MB to answer for a teacher with 100 assignments.
MULTIPLYING = (
    "{sections{nodes{assignments(first:60){nodes{section{assignments(first:60){nodes{section"
    "{assignments(first:60){nodes{section{id}}}}}}}}}}}}"
)
# Objects, from the innermost: each `section { id }` is 1; a page of 60 nodes is 60 × (1 +
# what each node holds); a connection is 1 + its page; the outermost page is the default 20.
MULTIPLYING_COST = 1 + 20 * (1 + 1 + 60 * (1 + 1 + 1 + 60 * (1 + 1 + 1 + 60 * (1 + 1))))

NESTED_PAGES = """
query Nested($first: Int) {
  sections(first: 1) { nodes { assignments(first: $first) { nodes {
    section { assignments(first: $first) { nodes { id } } }
  } } } }
}
"""


@pytest.fixture
async def teacher(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    section = await make_section(db, settings, teacher)
    profile = await make_profile(db, settings, teacher)
    await make_assignment(db, settings, teacher, section, profile)
    return teacher


async def post(client, token: str, query: str, variables: dict | None = None):
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"accept": GRAPHQL_RESPONSE, "authorization": f"Bearer {token}"},
    )


def assert_over_cost(response, cost: int, max_cost: int) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body, body
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "cost": cost, "maxCost": max_cost}
    assert f"{cost:,}" in error["message"]


async def test_multiplying_lists_are_refused_before_running_with_the_cost(
    client, settings, teacher
):
    response = await post(client, token_for(settings, teacher), MULTIPLYING)
    assert_over_cost(response, MULTIPLYING_COST, settings.max_query_cost)


def nested_pages_cost(first: int) -> int:
    # sections, its one node, the assignments connection; `first` nodes, each with its
    # section and that section's connection of `first` nodes.
    return 1 + 1 + 1 + first * (1 + 1 + 1 + first)


async def test_the_limit_is_a_setting_and_page_sizes_in_variables_count(settings, teacher):
    token = token_for(settings, teacher)
    transport = ASGITransport(app=create_app(settings.model_copy(update={"max_query_cost": 1000})))
    async with AsyncClient(transport=transport, base_url="http://practicum.test") as client:
        response = await post(client, token, NESTED_PAGES, {"first": 100})
        assert_over_cost(response, nested_pages_cost(100), 1000)

        with_default = NESTED_PAGES.replace("$first: Int", "$first: Int = 50")
        response = await post(client, token, with_default)
        assert_over_cost(response, nested_pages_cost(50), 1000)

        response = await post(client, token, NESTED_PAGES, {"first": 5})
        assert response.status_code == 200, response.text
        assert "errors" not in response.json()


async def test_the_web_uis_largest_query_runs(client, settings, teacher):
    query = print_ast(all_documents()["TeacherSections"])
    response = await post(client, token_for(settings, teacher), query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["sections"]["nodes"][0]["assignments"]["nodes"]


async def test_healthz_answers_while_a_large_allowed_query_runs(client, db, settings):
    """Within the cost limit, an answer may still take seconds; the rest of the process
    must go on answering meanwhile (before, /healthz waited for the whole answer)."""
    pages = 60
    teacher = await make_user(db, Role.TEACHER)
    section = await make_section(db, settings, teacher)
    profile = await make_profile(db, settings, teacher)
    for _ in range(pages):
        await make_assignment(db, settings, teacher, section, profile)
    page = f"assignments(first: {pages}) {{ nodes {{ %s }} }}"
    query = "{ sections(first: 1) { nodes { %s } } }" % (
        page % ("section { %s }" % (page % "id title section { id name }"))
    )
    large = asyncio.create_task(post(client, token_for(settings, teacher), query))
    waits = []
    while not large.done():
        started = time.perf_counter()
        await asyncio.sleep(0.02)
        assert (await client.get("/healthz")).status_code == 200
        waits.append(time.perf_counter() - started - 0.02)
    body = (await large).json()
    assert "errors" not in body, body
    assert len(body["data"]["sections"]["nodes"][0]["assignments"]["nodes"]) == pages
    assert len(waits) >= 5, waits
    # Unloaded, the longest wait is about 50 ms (it was the whole answer, 2-6 s, before);
    # the margin is for machines busy with other work.
    assert max(waits) < 2.0, f"/healthz waited {max(waits):.2f} s"


async def test_fragments_that_double_at_each_step_are_refused_at_once(client, settings, teacher):
    """Within the token limit, 18 fragments each spreading the next twice write out half a
    million fields: validating them held the loop for seconds (33 s for 20). Refused at once."""
    steps = 18
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(steps)
    )
    query = f"query {{ ...F0 }} {fragments} fragment F{steps} on Query {{ me {{ id }} }}"
    started = time.perf_counter()
    response = await post(client, token_for(settings, teacher), query)
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "fragments expand it to more than" in error["message"]

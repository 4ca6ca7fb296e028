"""GraphQL over HTTP on /graphql, health endpoints and abuse limits, through the ASGI app."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query
from graphql.language import Lexer, Source, TokenKind
from sqlalchemy import func, select

from api.accounts.models import Role
from api.app import create_app
from api.classes.models import Section
from api.config import Settings
from tests.factories.accounts import PASSWORD, make_user

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
TYPENAME = {"query": "{ __typename }"}


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


async def post(client: httpx.AsyncClient, body: dict, accept: str | None = GRAPHQL_RESPONSE):
    headers = {"accept": accept} if accept is not None else {}
    return await client.post("/graphql", json=body, headers=headers)


# --- content negotiation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.5", JSON),
        (JSON, JSON),
        ("*/*", JSON),
    ],
)
async def test_answers_in_the_media_type_the_client_accepts(client, accept, expected):
    response = await post(client, TYPENAME, accept)
    assert response.status_code == 200, response.text
    assert media_type(response) == expected
    assert "charset=utf-8" in response.headers["content-type"].replace(" ", "").lower()
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_without_accept_header_answers_application_json(client):
    request = client.build_request("POST", "/graphql", json=TYPENAME)
    del request.headers["accept"]  # httpx sends `*/*` unless told otherwise
    assert "accept" not in request.headers
    response = await client.send(request)
    assert response.status_code == 200, response.text
    assert media_type(response) == JSON
    assert "charset=utf-8" in response.headers["content-type"].replace(" ", "").lower()
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_accept_with_nothing_we_can_answer_is_406(client):
    response = await post(client, TYPENAME, "text/plain")
    assert response.status_code == 406
    assert GRAPHQL_RESPONSE in response.text  # tells the client what it can ask for


# --- GET --------------------------------------------------------------------------------


async def test_get_runs_queries_with_variables(client):
    response = await client.get(
        "/graphql",
        params={
            "query": "query Q($inc: Boolean!) { __typename @include(if: $inc) }",
            "variables": json.dumps({"inc": True}),
            "operationName": "Q",
        },
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_get_refuses_mutations_with_405_and_allow_post(client, db):
    user = await make_user(db, Role.STUDENT)
    query = f'mutation {{ login(email: "{user.email}", password: "{PASSWORD}") {{ token }} }}'
    response = await client.get(
        "/graphql", params={"query": query}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await db.refresh(user)
    assert user.last_login_at is None  # the login never ran


# --- malformed requests -----------------------------------------------------------------


async def test_post_without_content_type_is_415(client):
    response = await client.post(
        "/graphql", content=json.dumps(TYPENAME).encode(), headers={"accept": GRAPHQL_RESPONSE}
    )
    assert "content-type" not in response.request.headers
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["errors"][0]["message"]


async def test_body_over_the_size_limit_is_413(client, settings):
    padding = " " * settings.max_request_bytes
    body = json.dumps({"query": "{ __typename " + padding + "}"}).encode()
    assert len(body) > settings.max_request_bytes
    response = await client.post(
        "/graphql",
        content=body,
        headers={"accept": GRAPHQL_RESPONSE, "content-type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert "data" not in response.json()


async def test_body_over_the_size_limit_is_413_even_without_content_length(client, settings):
    chunk = b" " * 4096

    async def stream():
        yield b'{"query": "{ __typename '
        for _ in range(settings.max_request_bytes // len(chunk) + 1):
            yield chunk
        yield b'}"}'

    response = await client.post(
        "/graphql",
        content=stream(),
        headers={"accept": GRAPHQL_RESPONSE, "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text


async def test_body_just_under_the_size_limit_runs(client, settings):
    overhead = len(json.dumps({"query": "{ __typename }"}).encode())
    body = json.dumps(
        {"query": "{ __typename " + " " * (settings.max_request_bytes - overhead - 1) + "}"}
    ).encode()
    assert len(body) <= settings.max_request_bytes
    response = await client.post(
        "/graphql",
        content=body,
        headers={"accept": GRAPHQL_RESPONSE, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
async def test_malformed_json_is_400(client, accept):
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"',
        headers={"accept": accept, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert media_type(response) == accept
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize("field", ["variables", "extensions"])
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_deeply_nested_json_is_400_without_a_traceback(client, caplog, method, field):
    value = '{"a": ' + DEEP + "}"
    headers = {"accept": GRAPHQL_RESPONSE, "content-type": "application/json"}
    if method == "POST":
        body = '{"query": "{ __typename }", "' + field + '": ' + value + "}"
        response = await client.post("/graphql", content=body, headers=headers)
    else:
        params = {"query": "{ __typename }", field: value}
        response = await client.get("/graphql", params=params, headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nested deeper than 32 levels" in body["errors"][0]["message"]
    assert not [r for r in caplog.records if r.exc_info], caplog.text


@pytest.mark.parametrize(
    "body",
    [{}, {"query": 42}, {"query": "{ __typename }", "variables": "not an object"}],
    ids=["no-query", "query-not-a-string", "variables-not-an-object"],
)
async def test_badly_shaped_parameters_are_400(client, body):
    response = await post(client, body)
    assert response.status_code == 400, response.text
    assert "data" not in response.json()


# --- documents that cannot run ----------------------------------------------------------


async def test_invalid_document_is_400_without_data_for_graphql_response_json(client):
    response = await post(client, {"query": "{ noSuchField }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert "noSuchField" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_invalid_document_is_200_with_errors_for_application_json(client):
    response = await post(client, {"query": "{ noSuchField }"}, JSON)
    assert response.status_code == 200, response.text
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body
    assert "noSuchField" in body["errors"][0]["message"]


async def test_unparseable_document_is_400(client):
    response = await post(client, {"query": "{ __typename"}, GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert "data" not in response.json()
    assert response.json()["errors"][0]["message"].startswith("Syntax Error")


# --- abuse limits -----------------------------------------------------------------------
# Each over-limit document is a teacher's createSection mutation: if any of it ran, a
# section with the test's unique name would exist afterwards. At the limit it does run.


@pytest.fixture
async def teacher_token(gql, db) -> str:
    teacher = await make_user(db, Role.TEACHER)
    data = await gql.ok(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": teacher.email, "p": PASSWORD},
    )
    return data["login"]["token"]


def section_name() -> str:
    return f"limits-{secrets.token_hex(6)}"


async def sections_named(db, name: str) -> int:
    count = await db.scalar(select(func.count()).select_from(Section).where(Section.name == name))
    await db.rollback()  # end the read: on SQLite every transaction holds the write lock
    return count


def create_section(name: str, selection: str = "id") -> str:
    return f'createSection(input: {{name: "{name}"}}) {{ section {{ {selection} }} }}'


def nested_selection(levels: int) -> str:
    """A selection under `section` that is `levels` fields deep (its scalar leaf included)."""
    # Section.assignments -> AssignmentConnection.nodes -> Assignment.section -> Section ...
    path = [("assignments", "nodes", "section")[i % 3] for i in range(levels - 1)]
    if path and path[-1] == "assignments":  # a connection has no scalar leaf: end on a user
        path[-1] = "teacher"
    selection = "id"
    for field in reversed(path):
        selection = f"{field} {{ {selection} }}"
    return selection


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


async def post_as(
    client, token: str, query: str, operation_name: str | None = None
) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "operationName": operation_name},
        headers={"accept": GRAPHQL_RESPONSE, "authorization": f"Bearer {token}"},
    )


def assert_rejected(response: httpx.Response, message: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body, body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert message in body["errors"][0]["message"], body


def assert_ran(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"], body


async def test_query_deeper_than_the_limit_is_rejected_unexecuted(
    client, db, settings, teacher_token
):
    # Depth counts from the root field: createSection is at depth 0, `section` at 1, and
    # the deepest leaf below `section` at `levels` + 1, which may be at most max_query_depth.
    levels = settings.max_query_depth - 1
    allowed, over = section_name(), section_name()

    response = await post_as(
        client, teacher_token, f"mutation {{ {create_section(allowed, nested_selection(levels))} }}"
    )
    assert_ran(response)
    assert await sections_named(db, allowed) == 1

    response = await post_as(
        client,
        teacher_token,
        f"mutation {{ {create_section(over, nested_selection(levels + 1))} }}",
    )
    assert_rejected(response, f"exceeds maximum operation depth of {settings.max_query_depth}")
    assert await sections_named(db, over) == 0


async def test_cached_documents_keep_their_verdicts(client, settings, teacher_token):
    """Parsing and validation are cached per document: a repeat gets the same answer."""
    too_deep = f"{{ sections {{ nodes {{ {nested_selection(settings.max_query_depth)} }} }} }}"
    fine = "{ me { id role } }"
    for _ in range(3):
        assert_rejected(
            await post_as(client, teacher_token, too_deep), "exceeds maximum operation depth"
        )
        assert_ran(await post_as(client, teacher_token, fine))
        assert_rejected(await post_as(client, teacher_token, "{ me { id "), "Syntax Error")


async def test_more_aliases_than_the_limit_is_rejected_unexecuted(
    client, db, settings, teacher_token
):
    allowed, over = section_name(), section_name()

    def aliased(name: str, count: int) -> str:
        fields = " ".join(f"s{i}: {create_section(name)}" for i in range(count))
        return f"mutation {{ {fields} }}"

    response = await post_as(client, teacher_token, aliased(allowed, settings.max_query_aliases))
    assert_ran(response)
    assert await sections_named(db, allowed) == settings.max_query_aliases

    response = await post_as(client, teacher_token, aliased(over, settings.max_query_aliases + 1))
    assert_rejected(response, f"Allowed: {settings.max_query_aliases}")
    assert await sections_named(db, over) == 0


async def test_more_tokens_than_the_limit_is_rejected_unexecuted(
    client, db, settings, teacher_token
):
    def padded(name: str, tokens: int) -> str:
        """createSection padded with small named queries (5 tokens each) to `tokens` tokens."""
        run = f"mutation Run {{ {create_section(name)} }}"
        pads, extra_ids = divmod(tokens - token_count(run), 5)
        run = f"mutation Run {{ {create_section(name, 'id' + ' id' * extra_ids)} }}"
        document = " ".join([run, *(f"query P{i} {{ __typename }}" for i in range(pads))])
        assert token_count(document) == tokens
        return document

    allowed, over = section_name(), section_name()

    response = await post_as(
        client, teacher_token, padded(allowed, settings.max_query_tokens), "Run"
    )
    assert_ran(response)
    assert await sections_named(db, allowed) == 1

    response = await post_as(
        client, teacher_token, padded(over, settings.max_query_tokens + 1), "Run"
    )
    assert_rejected(response, f"more than {settings.max_query_tokens} tokens")
    assert await sections_named(db, over) == 0


async def test_introspection_query_is_not_caught_by_the_limits(client):
    response = await post(client, {"query": get_introspection_query(descriptions=True)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    schema = body["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert schema["mutationType"]["name"] == "Mutation"
    assert "Section" in {t["name"] for t in schema["types"]}


# --- health -----------------------------------------------------------------------------


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_on_a_migrated_database(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_is_503_until_the_database_is_migrated(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}"
    app = create_app(
        Settings(database_url=url, data_dir=tmp_path, jwt_secret="readyz-secret-" + "r" * 32)
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://practicum.test"
        ) as client:
            ready = await client.get("/readyz")
            healthy = await client.get("/healthz")
    finally:
        await app.state.runtime.close()
    assert ready.status_code == 503
    assert ready.json() == {"status": "database not migrated"}
    assert healthy.status_code == 200  # alive, just not ready

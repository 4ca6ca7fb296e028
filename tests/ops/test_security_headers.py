"""Security headers on every response, HSTS over TLS, and the settings that close GraphiQL
and anonymous introspection in production."""

from __future__ import annotations

import httpx
import pytest

from api.accounts.models import Role
from api.app import create_app
from tests.api.test_bad_input import token_for
from tests.factories.accounts import make_user

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}
SCHEMA_NAME = {"query": "{ __schema { queryType { name } } }"}


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)


def app_client(settings, **changes) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update=changes))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://practicum.test")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/readyz", 200),
        ("GET", "/no-such-page", 404),
        ("POST", "/graphql", 200),
        ("POST", "/graphql?bad", 400),
    ],
)
async def test_every_response_carries_the_security_headers(client, method, path, status):
    body = {"query": "{ __typename }"} if "bad" not in path else {"query": "{"}
    response = await client.request(
        method,
        path,
        json=body if method == "POST" else None,
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == status
    assert_secured(response)
    assert "strict-transport-security" not in response.headers  # plain HTTP


async def test_graphiql_and_rate_limited_responses_carry_them_too(settings):
    async with app_client(settings, http_rate_limit_per_ip="2/minute") as client:
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 200 and "text/html" in ide.headers["content-type"]
        assert_secured(ide)
        await client.get("/graphql", params={"query": "{ __typename }"})
        refused = await client.get("/graphql", params={"query": "{ __typename }"})
    assert refused.status_code == 429
    assert_secured(refused)


async def test_hsts_over_tls_from_a_trusted_proxy(client):
    response = await client.get("/healthz", headers={"x-forwarded-proto": "https"})
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert_secured(response)


async def test_graphiql_can_be_turned_off(settings):
    async with app_client(settings, graphiql=False) as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower()
    assert_secured(response)


async def test_anonymous_introspection_can_be_turned_off(settings, db):
    user = await make_user(db, Role.STUDENT)
    accept = {"accept": "application/graphql-response+json"}
    async with app_client(settings, anonymous_introspection=False) as client:
        anonymous = await client.post("/graphql", json=SCHEMA_NAME, headers=accept)
        signed_in = await client.post(
            "/graphql",
            json=SCHEMA_NAME,
            headers={**accept, "authorization": f"Bearer {token_for(settings, user)}"},
        )
        typename = await client.post("/graphql", json={"query": "{ __typename }"}, headers=accept)
    assert anonymous.status_code == 400, anonymous.text
    assert "data" not in anonymous.json()
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert signed_in.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert typename.json() == {"data": {"__typename": "Query"}}


async def test_anonymous_introspection_stays_on_by_default(client):
    response = await client.post("/graphql", json=SCHEMA_NAME)
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}

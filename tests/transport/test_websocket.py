"""graphql-transport-ws on /graphql, against the real server, with the `gql` client library."""

from __future__ import annotations

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

STUDENT = "student@practicum.local"
DEMO_PASSWORD = "practicum-demo"
DEMO_CLIENTS = {"Maya Okafor", "Daniel Reyes", "Eleanor Whitfield"}

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { email role } }
}
"""
ME_AND_CLIENTS = "{ me { email role } clientProfiles { nodes { name } } }"


def close_codes(error: BaseException | None) -> list[int]:
    """The websocket close codes found along an exception's cause chain."""
    codes = []
    while error is not None:
        if isinstance(error, ConnectionClosed) and error.rcvd is not None:
            codes.append(error.rcvd.code)
        error = error.__cause__ or error.__context__
    return codes


def login(password: str) -> GraphQLRequest:
    return GraphQLRequest(LOGIN, variable_values={"email": STUDENT, "password": password})


def ws_client(live_server: str, init_payload: dict | None = None) -> Client:
    transport = WebsocketsTransport(
        url=live_server.replace("http://", "ws://", 1) + "/graphql",
        init_payload=init_payload or {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=10,
        ack_timeout=10,
        close_timeout=5,
    )
    return Client(transport=transport, execute_timeout=20)


@pytest.fixture(scope="module")
def student_token(live_server: str) -> str:
    response = httpx.post(
        f"{live_server}/graphql",
        json={"query": LOGIN, "variables": {"email": STUDENT, "password": DEMO_PASSWORD}},
        headers={"accept": "application/graphql-response+json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["login"]["token"]


async def test_token_in_connection_init_authenticates_the_socket(live_server, student_token):
    async with ws_client(live_server, {"Authorization": f"Bearer {student_token}"}) as session:
        data = await session.execute(gql(ME_AND_CLIENTS))
    assert data["me"] == {"email": STUDENT, "role": "STUDENT"}
    assert {node["name"] for node in data["clientProfiles"]["nodes"]} == DEMO_CLIENTS


async def test_bare_token_in_connection_init_also_authenticates(live_server, student_token):
    async with ws_client(live_server, {"token": student_token}) as session:
        data = await session.execute(gql("{ me { email } }"))
    assert data["me"]["email"] == STUDENT


async def test_invalid_token_in_connection_init_closes_the_connection(live_server):
    with pytest.raises(TransportError) as raised:
        async with ws_client(live_server, {"Authorization": "Bearer not-a-real-token"}) as session:
            await session.execute(gql("{ me { email } }"))
    # The server answers connection_init by closing the socket with 4403 Forbidden: the
    # client never gets to run anything on that connection.
    assert not isinstance(raised.value, TransportQueryError)
    assert 4403 in close_codes(raised.value), repr(raised.value)


async def test_without_a_token_me_is_unauthenticated(live_server):
    async with ws_client(live_server) as session:
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(gql("{ me { email } }"))
        # The connection stays usable for fields that need no login.
        data = await session.execute(gql("{ __typename }"))
    errors = raised.value.errors
    assert errors, raised.value
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors
    assert errors[0]["path"] == ["me"]
    assert data == {"__typename": "Query"}


async def test_mutation_runs_over_the_websocket(live_server):
    async with ws_client(live_server) as session:
        data = await session.execute(login(DEMO_PASSWORD))
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(login("wrong-password"))
    assert data["login"]["user"] == {"email": STUDENT, "role": "STUDENT"}
    assert raised.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"

    # The token issued over the websocket works over HTTP.
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{live_server}/graphql",
            json={"query": "{ me { email } }"},
            headers={"authorization": f"Bearer {data['login']['token']}"},
        )
    assert response.json() == {"data": {"me": {"email": STUDENT}}}


@pytest.mark.parametrize("bad", ["\ud800", "\x00"], ids=["unpaired-surrogate", "nul"])
async def test_text_that_cannot_be_stored_is_bad_input_over_the_websocket(live_server, bad):
    request = GraphQLRequest(LOGIN, variable_values={"email": STUDENT + bad, "password": "x"})
    async with ws_client(live_server) as session:
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(request)
        data = await session.execute(gql("{ __typename }"))
    [error] = raised.value.errors
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert [f["field"] for f in error["extensions"]["fields"]] == ["email"]
    assert data == {"__typename": "Query"}

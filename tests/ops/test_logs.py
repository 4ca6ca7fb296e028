"""The logs of a real `practicum serve`, as an operator reads them: one JSON object per line,
each request's lines tagged with the id sent back in `X-Request-ID`, no secrets, and the
same id on the ErrorEvents of a reply that failed, so an admin can go from one to the other.

The server's Claude is the fake Anthropic server (a key of this module's own).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gql import GraphQLRequest

from tests.fakes.anthropic_server import FakeAnthropic, Fault, Reply
from tests.transport.conftest import Server, run_ok, serve
from tests.transport.test_session_events import ws_client

DEMO_PASSWORD = "practicum-demo"
STUDENT = "student@practicum.local"
ADMIN = "admin@practicum.local"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
CLIENTS = "{ clientProfiles { nodes { id } } }"
START = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }"
SEND = """
mutation($s: ID!, $content: String!) {
  sendMessage(sessionId: $s, content: $content) { assistantMessage { id } }
}"""
RETRY = "mutation($m: ID!) { retryReply(messageId: $m) { assistantMessage { id } } }"
REPLY_STATUS = "query($s: ID!) { session(id: $s) { messages(first: 10) { nodes { status } } } }"
ERROR_EVENTS = """
query($s: ID!) {
  errorEvents(filter: {sessionId: $s}) { nodes { category requestId upstreamRequestId } }
}"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key="sk-ant-test-" + secrets.token_hex(16)) as fake:
        yield fake


@contextmanager
def serving(data_dir: Path, fake: FakeAnthropic, log_format: str, level: str) -> Iterator[Server]:
    """`practicum serve` with the demo in it, Claude being the fake (two tries a turn)."""
    env = {
        "ANTHROPIC_API_KEY": fake.api_key,
        "ANTHROPIC_BASE_URL": fake.url,
        "PRACTICUM_LOG_FORMAT": log_format,
        "PRACTICUM_LOG_LEVEL": level,
        "PRACTICUM_FALLBACK_MODEL": "",
        "PRACTICUM_RETRY_MAX_ATTEMPTS": "2",
        "PRACTICUM_RETRY_BASE_DELAY_SECONDS": "0.01",
        # Sessions these tests leave end when the next starts; their feedback must not take
        # the model calls (and faults) queued for replies.
        "PRACTICUM_EVALUATOR": "offline",
    }
    with serve(data_dir, env) as server:
        run_ok(data_dir, "demo")
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake: FakeAnthropic) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("logs") / "data", fake, "json", "INFO") as server:
        yield server


# --- talking to the server and reading its log ------------------------------------------


def post(
    server: Server, query: str, token: str | None = None, request_id: str | None = None, **variables
) -> httpx.Response:
    headers = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if request_id:
        headers["x-request-id"] = request_id
    body = {"query": query, "variables": variables}
    return httpx.post(f"{server.url}/graphql", json=body, headers=headers, timeout=20)


def data(response: httpx.Response) -> dict:
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def log_in(server: Server, email: str) -> str:
    return data(post(server, LOGIN, e=email, p=DEMO_PASSWORD))["login"]["token"]


def log_lines(server: Server, parse=json.loads) -> list:
    """Every line the server wrote, each parsed (as JSON by default: fails on one that is
    not)."""
    lines = []
    for line in server.output().splitlines():
        try:
            lines.append(parse(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
    return lines


def logged(server: Server, matches: Callable[..., bool], count: int = 1, parse=json.loads) -> list:
    """The log lines (parsed by `parse`) that match, once there are `count` of them (polls
    up to 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        found = [line for line in log_lines(server, parse) if matches(line)]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"expected {count} such lines, found {found}"
            return found
        time.sleep(0.05)


def access_lines(server: Server, request_id: str) -> list[dict]:
    return logged(
        server,
        lambda line: line["logger"] == "uvicorn.access" and line.get("request_id") == request_id,
    )


@dataclass
class Practice:
    token: str
    session_id: str


def practise(server: Server) -> Practice:
    token = log_in(server, STUDENT)
    client_id = data(post(server, CLIENTS, token))["clientProfiles"]["nodes"][0]["id"]
    session_id = data(post(server, START, token, c=client_id))["startSession"]["session"]["id"]
    return Practice(token, session_id)


async def ask_over_websocket(server: Server, token: str, query: str) -> dict:
    async with ws_client(server.url, {"Authorization": f"Bearer {token}"}) as ws:
        return await ws.execute(GraphQLRequest(query))


def wait_for_reply(server: Server, practice: Practice, status: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        nodes = data(post(server, REPLY_STATUS, practice.token, s=practice.session_id))
        last = nodes["session"]["messages"]["nodes"][-1]["status"]
        if last == status or time.monotonic() > deadline:
            assert last == status
            return
        time.sleep(0.05)


# --- the tests ----------------------------------------------------------------------------


def test_every_line_is_a_json_object_with_time_level_logger_and_message(server):
    response = httpx.get(f"{server.url}/healthz")
    request_id = response.headers["x-request-id"]
    access_lines(server, request_id)

    lines = log_lines(server)
    assert len(lines) > 3  # startup, the demo's requests, ours
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), line
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", line["time"]), line
        assert not any("\x1b" in str(v) for v in line.values()), f"terminal colours: {line}"
    for line in lines:
        if line["logger"] == "uvicorn.access":
            assert line.get("request_id"), f"a request logged without its id: {line}"


def test_the_request_id_in_the_header_is_the_one_in_the_access_log(server):
    response = post(server, "{ __typename }")
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.match(request_id)
    [line] = access_lines(server, request_id)
    assert "POST /graphql" in line["message"]

    other = post(server, "{ __typename }").headers["x-request-id"]
    assert other != request_id  # every request gets one of its own


def test_a_clients_own_request_id_is_kept_when_sane(server):
    mine = "checkout-" + secrets.token_hex(6)
    response = post(server, "{ __typename }", request_id=mine)
    assert response.headers["x-request-id"] == mine
    access_lines(server, mine)


def test_a_websocket_connection_gets_an_id_in_its_handshake_and_its_log_lines(server):
    token = log_in(server, STUDENT)
    handshake = asyncio.run(websocket_handshake_headers(server, token))
    request_id = handshake["x-request-id"]
    assert GENERATED_ID.match(request_id)
    [accepted] = logged(
        server, lambda line: line.get("request_id") == request_id and "WebSocket" in line["message"]
    )
    assert "accepted" in accepted["message"]


async def websocket_handshake_headers(server: Server, token: str) -> dict[str, str]:
    client = ws_client(server.url, {"Authorization": f"Bearer {token}"})
    async with client as ws:
        await ws.execute(GraphQLRequest("{ me { id } }"))
        return {name.lower(): value for name, value in client.transport.response_headers.items()}


@pytest.mark.parametrize(
    "given", ["short", "has spaces in it", "x" * 65, 'quote"and<html>', "ok-but-ü-accent"]
)
def test_a_clients_request_id_that_is_not_sane_is_replaced(server, given):
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"x-request-id": given.encode()},
        timeout=20,
    )
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.match(request_id), request_id
    access_lines(server, request_id)
    assert given not in server.output()


def test_no_line_holds_a_token_a_password_the_api_key_or_the_prompt(server, fake):
    wrong_password = "wrong-" + secrets.token_hex(8)
    refused = post(server, LOGIN, e=STUDENT, p=wrong_password).json()
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    practice = practise(server)
    secret_words = "my secret " + secrets.token_hex(8)
    fake.enqueue(Reply(text="I'd rather not say."))
    data(post(server, SEND, practice.token, s=practice.session_id, content=secret_words))
    wait_for_reply(server, practice, "COMPLETE")
    # The token on a websocket, and variables in a GET's query string.
    asyncio.run(ask_over_websocket(server, practice.token, "{ me { id } }"))
    httpx.get(
        f"{server.url}/graphql",
        params={
            "query": "query($x: String) { __typename }",
            "variables": json.dumps({"x": wrong_password}),
        },
        headers={"authorization": f"Bearer {practice.token}"},
    )

    sent = fake.requests[-1].body  # what the model was asked
    assert secret_words in json.dumps(sent["messages"])
    system_prompt = [block["text"] for block in sent["system"]]
    output = server.output()
    private = [practice.token, DEMO_PASSWORD, wrong_password, fake.api_key, secret_words]
    for secret in private + system_prompt:
        assert secret not in output, f"the log holds {secret[:40]!r}"


def test_a_failed_replys_error_events_carry_the_id_of_the_request_that_asked_for_it(server, fake):
    practice = practise(server)
    fake.enqueue(Fault.status(529), Fault.status(529))
    sent = post(server, SEND, practice.token, s=practice.session_id, content="Hello?")
    reply_id = data(sent)["sendMessage"]["assistantMessage"]["id"]
    wait_for_reply(server, practice, "FAILED")
    fake.enqueue(Fault.status(529), Fault.status(529))
    retried = post(server, RETRY, practice.token, m=reply_id)
    data(retried)
    wait_for_reply(server, practice, "FAILED")

    admin = log_in(server, ADMIN)
    events = data(post(server, ERROR_EVENTS, admin, s=practice.session_id))["errorEvents"]["nodes"]
    assert [e["category"] for e in events] == ["provider.overloaded"] * 4
    sent_id, retried_id = sent.headers["x-request-id"], retried.headers["x-request-id"]
    assert Counter(e["requestId"] for e in events) == {sent_id: 2, retried_id: 2}
    upstream = {r.request_id for r in fake.requests[-4:]}
    assert {e["upstreamRequestId"] for e in events} == upstream

    # From the ErrorEvent to the log: the failed calls are logged under the same id.
    for request_id in (sent_id, retried_id):
        failures = logged(
            server,
            lambda line, request_id=request_id: (
                line.get("request_id") == request_id and "model call failed" in line["message"]
            ),
            count=2,
        )
        assert {line["level"] for line in failures} == {"WARNING"}


def test_text_logs_at_warning_level_keep_the_failures_with_their_request_id(tmp_path, fake):
    with serving(tmp_path / "data", fake, "text", "WARNING") as server:
        practice = practise(server)
        fake.enqueue(Fault.status(529), Fault.status(529))
        sent = post(server, SEND, practice.token, s=practice.session_id, content="Hello?")
        data(sent)
        wait_for_reply(server, practice, "FAILED")
        request_id = sent.headers["x-request-id"]
        failures = logged(server, lambda line: "model call failed" in line, count=2, parse=str)
        lines = server.output().splitlines()

    for line in failures:
        assert re.match(rf"^\S+ \S+ WARNING practicum\.llm \[{request_id}\] model call", line)
    assert not [line for line in lines if "POST /graphql" in line]  # INFO is left out


BAD_INPUTS = {
    "unpaired-surrogate-in-login": (None, LOGIN, {"e": STUDENT + "\ud800", "p": DEMO_PASSWORD}),
    "nul-in-a-filter": (
        ADMIN,
        "query($c: String) { errorEvents(filter: {category: $c}) { nodes { id } } }",
        {"c": "a\x00b"},
    ),
    "time-past-year-9999-in-utc": (
        ADMIN,
        "query($t: DateTime) { errorEvents(filter: {since: $t}) { nodes { id } } }",
        {"t": "9999-12-31T23:59:59-14:00"},
    ),
}


@pytest.mark.parametrize(("who", "query", "variables"), BAD_INPUTS.values(), ids=BAD_INPUTS)
def test_bad_input_is_logged_without_a_traceback_or_sql(server, who, query, variables):
    token = log_in(server, who) if who else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables})  # escapes "\ud800"
    response = httpx.post(f"{server.url}/graphql", content=body, headers=headers, timeout=20)
    request_id = response.headers["x-request-id"]

    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    access_lines(server, request_id)
    lines = [line for line in log_lines(server) if line.get("request_id") == request_id]
    for line in lines:
        text = json.dumps(line)
        assert line["level"] in ("DEBUG", "INFO"), line
        assert "Traceback" not in text and "[SQL:" not in text, line

"""What the websocket does with documents and payloads HTTP refuses: the same refusals,
without a traceback in the server's log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.api.test_query_cost import MULTIPLYING, MULTIPLYING_COST

PROTOCOL = "graphql-transport-ws"


def server_log(live_data_dir: Path, live_server: str) -> str:
    port = live_server.rsplit(":", 1)[1]
    return (live_data_dir.parent / f"server-{port}.log").read_text(errors="replace")


async def acknowledged(live_server: str):
    socket = await websockets.connect(
        live_server.replace("http://", "ws://", 1) + "/graphql", subprotocols=[PROTOCOL]
    )
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    return socket


async def test_a_costly_document_gets_an_error_with_its_cost(live_server):
    socket = await acknowledged(live_server)
    try:
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": MULTIPLYING}})
        )
        message = json.loads(await socket.recv())
    finally:
        await socket.close()
    assert message["type"] == "error", message
    (error,) = message["payload"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "cost": MULTIPLYING_COST,
        "maxCost": 50_000,
    }


@pytest.mark.parametrize("field", ["variables", "extensions"])
async def test_deeply_nested_json_closes_with_4400_and_no_traceback(
    live_server, live_data_dir, field
):
    deep = "[" * 1000 + "]" * 1000
    payload = '{"query": "{ __typename }", "' + field + '": {"a": ' + deep + "}}"
    socket = await acknowledged(live_server)
    await socket.send('{"id": "1", "type": "subscribe", "payload": ' + payload + "}")
    with pytest.raises(ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    log = server_log(live_data_dir, live_server)
    assert "RecursionError" not in log and "Traceback" not in log, log[-3000:]

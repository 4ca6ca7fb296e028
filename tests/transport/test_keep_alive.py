"""A real `practicum serve` keeps an idle connection open longer than its clients keep it
for reuse (aiohttp 15 s, nginx's upstream pool 60 s): a server that closes it first races
the next request sent on it, which fails as "Server disconnected"."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

BODY = b'{"query": "{ __typename }"}'
REQUEST = (
    b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Accept: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


def _answer(connection: socket.socket) -> bytes:
    """One whole response (the body is short: it comes with the headers or just after)."""
    connection.settimeout(5)
    data = b""
    while b"Query" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data  # closed by the server
        data += chunk
    return data


def test_a_connection_left_idle_past_five_seconds_takes_the_next_request(live_server):
    address = urlsplit(live_server)
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(REQUEST)
        assert _answer(connection).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # longer than uvicorn's own default keep-alive (5 s)
        connection.sendall(REQUEST)
        assert _answer(connection).startswith(b"HTTP/1.1 200")

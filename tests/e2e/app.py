"""The app as the README starts it (`make run`), for the browser tests and the UI bench."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PRACTICUM_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "practicum-demo"
LOGINS = {
    "student": "student@practicum.local",
    "student2": "student2@practicum.local",
    "teacher": "teacher@practicum.local",
    "admin": "admin@practicum.local",
}
STARTUP_SECONDS = 600
TEST_SETTINGS = {
    # Replies long enough to be seen streaming and to be stopped.
    "PRACTICUM_SIMULATOR_DELAY_SECONDS": "0.06",
    "PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT": "100/minute",
    # Every test signs in through the page; many share the demo accounts.
    "PRACTICUM_RATE_LIMIT_LOGINS_PER_EMAIL": "200/minute",
    "PRACTICUM_RATE_LIMIT_LOGINS_PER_IP": "600/minute",
    "PRACTICUM_LOG_FORMAT": "text",
}


# Settings of the machine's environment that would point the app elsewhere
_FOREIGN_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "REFLEX_REDIS_URL",
    "ANTHROPIC_API_KEY",
    "PRACTICUM_OPENAI_BASE_URL",
    "PRACTICUM_API_URL",
    "PRACTICUM_UI_API_APP",
}


class AppDidNotStart(RuntimeError):
    pass


@dataclass(frozen=True)
class AppServer:
    url: str
    data_dir: Path  # the embedded database and secrets of this server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(workdir: Path, ready_path: str = "/readyz", **settings: str) -> Iterator[AppServer]:
    """`make run` on a free port with a fresh embedded database in `workdir`, at the URL it
    prints, once `ready_path` answers there (the pages alone have no /readyz: "/ping");
    its output goes to `workdir/make-run.log`."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env.update(TEST_SETTINGS, PRACTICUM_DATA_DIR=str(workdir / "data"), **settings)
    log_path = workdir / "make-run.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={_free_port()}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield AppServer(_wait_for_url(server, log_path, ready_path), workdir / "data")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _wait_for_url(server: subprocess.Popen, log_path: Path, ready_path: str) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AppDidNotStart(f"make run exited with {server.returncode}:\n{_tail(log_path)}")
        match = re.search(r"App running at: (http://\S+?)/?\s", log_path.read_text())
        if match:
            url = match.group(1)
            try:
                if httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    raise AppDidNotStart(f"make run did not serve within {STARTUP_SECONDS} s:\n{_tail(log_path)}")


def _tail(log_path: Path) -> str:
    return log_path.read_text()[-4000:]


class DemoApi:
    """GraphQL over HTTP, as an integrator would call it: for setting up what a browser test
    needs and checking what the pages did."""

    LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"

    def __init__(self, app_url: str, token: str = "") -> None:
        self.url, self.token = f"{app_url}/graphql", token

    @classmethod
    def signed_in(cls, app_url: str, who: str) -> DemoApi:
        """As the demo user `who` ("student", "teacher", …)."""
        api = cls(app_url)
        api.token = api.data(cls.LOGIN, e=LOGINS[who], p=PASSWORD)["login"]["token"]
        return api

    def __call__(self, query: str, **variables) -> dict:
        """The whole answer, errors included."""
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"query": query, "variables": variables}
        return httpx.post(self.url, json=body, headers=headers, timeout=30).json()

    def data(self, query: str, **variables) -> dict:
        """The `data` of a request that must succeed."""
        answer = self(query, **variables)
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def start_session(self, new: bool = False) -> str:
        """A practice session with the first client this student may practise with."""
        clients = self.data("{ clientProfiles { nodes { id } } }")["clientProfiles"]["nodes"]
        start = (
            "mutation($c: ID!, $n: Boolean!) "
            "{ startSession(clientId: $c, new: $n) { session { id } } }"
        )
        return self.data(start, c=clients[0]["id"], n=new)["startSession"]["session"]["id"]


def fail_to_sign_in(page) -> None:
    """On the sign-in page: the right email, a wrong password, and the error it gives."""
    from playwright.sync_api import expect

    page.get_by_label("Email").fill(LOGINS["student"])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").first).to_contain_text("password")


def sign_in(page, app_url: str, who: str) -> None:
    """Sign in through the sign-in page, as a user would, and wait for the start page."""
    page.goto(f"{app_url}/login")
    page.get_by_label("Email").fill(LOGINS[who])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()

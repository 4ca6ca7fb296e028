"""Fixtures that run Practicum the way a user does: the `practicum` command in a subprocess.

`live_server` is `practicum serve` on a free port over an embedded SQLite data dir, with the
demo accounts in it. `cli` runs `practicum ...` against a data dir of the test's own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PRACTICUM = Path(sys.executable).parent / "practicum"
START_TIMEOUT = 60.0  # a loaded 2-core machine starts a server slowly

# Settings that would point the subprocess away from its embedded data dir.
_FOREIGN_ENV = (
    "DATABASE_URL",
    "PRACTICUM_DATABASE_URL",
    "PRACTICUM_JWT_SECRET",
    "PRACTICUM_NEW_USER_PASSWORD",
    "REDIS_URL",
    "PRACTICUM_REDIS_URL",
    "REFLEX_REDIS_URL",  # doubles as REDIS_URL
    "ANTHROPIC_API_KEY",
)


def practicum_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env["PRACTICUM_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_practicum(
    data_dir: Path,
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `practicum <args>` as a user would, against `data_dir`."""
    return subprocess.run(
        [str(PRACTICUM), *args],
        input=input,
        capture_output=True,
        text=True,
        env=practicum_env(data_dir, **(env or {})),
        cwd=cwd or data_dir.parent,
        timeout=timeout,
        # A closed stdin (not the terminal) unless the test feeds one.
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def run_ok(data_dir: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    result = run_practicum(data_dir, *args, **kwargs)
    assert result.returncode == 0, (
        f"`practicum {' '.join(args)}` exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(
    data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[Server]:
    """`practicum serve` on `port` or a free one (with `env` added to its environment);
    waits for /healthz, stops the process afterwards."""
    if not PRACTICUM.exists():
        pytest.fail(f"{PRACTICUM} is missing; run `make test` (it installs the project).")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(PRACTICUM), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=practicum_env(data_dir, **(env or {})),
            cwd=data_dir.parent,
        )
    server = Server(f"http://127.0.0.1:{port}", data_dir, process, log)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"`practicum serve` exited with {server.process.returncode} before it was "
                f"healthy. Its output:\n{server.output()}"
            )
        try:
            response = httpx.get(f"{server.url}/healthz", timeout=2)
            if response.status_code == 200:
                return
            last_error = f"/healthz answered {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = f"{exc.__class__.__name__}: {exc}"
        time.sleep(0.2)
    pytest.fail(
        f"`practicum serve` was not healthy after {START_TIMEOUT:.0f} s ({last_error}). "
        f"Its output:\n{server.output()}"
    )


@pytest.fixture(scope="session")
def live_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live") / "data"


@pytest.fixture(scope="session")
def live_server(live_data_dir: Path) -> Iterator[str]:
    """The base URL of a real `practicum serve` (embedded SQLite) holding the demo accounts."""
    with serve(live_data_dir) as server:  # serve migrates the embedded database
        run_ok(live_data_dir, "demo")
        yield server.url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A migrated embedded data dir of the test's own."""
    path = tmp_path / "data"
    run_ok(path, "migrate")
    return path

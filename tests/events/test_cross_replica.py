"""Two `practicum serve` replicas on PostgreSQL and Redis: a reply streamed on one is seen
live on the other, a late joiner there gets the text so far, the rate limits count both
together exactly, a cost alert is told once, Redis unreachable at start is a clear error,
and Redis restarting mid-reply loses nothing."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_JWT_SECRET, skip_or_fail
from tests.events.replicas import (
    REPLY_TEXT,
    Cluster,
    cluster,
    fake_model,
    on,
    postgres_database,
    redis_prefix,
    replica_env,
    settled,
)
from tests.events.test_redis_broker import private_redis
from tests.factories.budgets import MAX_REPLY_TOKENS, WebhookReceiver, until
from tests.limits.conftest import REDIS_URL
from tests.transport.conftest import PRACTICUM, free_port, practicum_env
from tests.transport.test_session_events import (
    CLIENTS,
    MAYA,
    OPENER,
    STUDENT,
    WAIT,
    GraphQLErrors,
    _login,
    applied,
    assert_all_of,
    watching,
    ws_client,
)

pytestmark = pytest.mark.postgres
PER_STUDENT = 3  # messages a student may send a minute, on both replicas together


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
async def replicas(database_url: str, tmp_path_factory) -> AsyncIterator[Cluster]:
    with WebhookReceiver() as hook, fake_model() as fake:
        async with redis_prefix() as prefix:
            env = replica_env(
                database_url,
                REDIS_URL,
                prefix,
                ANTHROPIC_API_KEY=fake.api_key,
                ANTHROPIC_BASE_URL=fake.url,
                PRACTICUM_ALERT_WEBHOOK_URL=hook.url,
                PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT=f"{PER_STUDENT}/minute",
                PRACTICUM_MAX_REPLY_TOKENS=str(MAX_REPLY_TOKENS),
            )
            with cluster(tmp_path_factory.mktemp("replicas") / "data", env) as running:
                running.hook = hook
                yield running


async def test_a_reply_sent_on_one_replica_streams_live_on_the_other(replicas: Cluster):
    student = await replicas.new_student()
    session_id = await replicas.maya_session(student)
    async with watching(replicas.b, student.init_payload(), session_id) as on_b:
        turn = await on(replicas.a, student).send(session_id, OPENER)
        events = await on_b.reply()
    reply_id = turn["assistantMessage"]["id"]

    *deltas, completed = events
    assert completed.kind == "MessageCompleted", completed
    assert len(deltas) >= len(REPLY_TEXT) // 8 - 1, "every chunk arrives, one by one"
    assert_all_of(events, session_id, reply_id)
    assert [d.data["offset"] for d in deltas] == sorted(d.data["offset"] for d in deltas)
    assert applied(deltas) == REPLY_TEXT == completed.data["message"]["content"]
    assert completed.data["totals"]["messageCount"] == 2
    stored = await on(replicas.b, student).session(session_id)
    assert stored["messages"]["nodes"][-1]["content"] == REPLY_TEXT


async def test_a_late_joiner_on_the_other_replica_gets_the_text_so_far(replicas: Cluster):
    student = await replicas.new_student()
    session_id = await replicas.maya_session(student)
    await on(replicas.a, student).send(session_id, OPENER)
    await asyncio.sleep(0.5)  # a good part of the reply has streamed on A by now
    async with watching(replicas.b, student.init_payload(), session_id) as on_b:
        events = await on_b.reply()

    first, *rest = events
    assert first.kind == "MessageDelta" and first.data["reset"] and first.data["offset"] == 0
    assert 0 < len(first.data["delta"]) < len(REPLY_TEXT), "joined mid-reply: part of it"
    assert REPLY_TEXT.startswith(first.data["delta"])
    assert rest[-1].kind == "MessageCompleted"
    assert applied(events) == REPLY_TEXT  # no gap, nothing twice


async def test_the_rate_limit_counts_sends_on_both_replicas_exactly(replicas: Cluster):
    student = await replicas.new_student()
    session_id = await replicas.maya_session(student)
    outcomes = []
    for turn in range(PER_STUDENT + 3):
        replica = on((replicas.a, replicas.b)[turn % 2], student)
        try:
            await replica.send(session_id, f"Turn {turn}: how are you sleeping?")
            outcomes.append("sent")
        except GraphQLErrors as refused:
            outcomes.append(refused.errors[0]["extensions"]["code"])
        await settled(replica, session_id)

    assert outcomes == ["sent"] * PER_STUDENT + ["RATE_LIMITED"] * 3
    session = await on(replicas.b, student).session(session_id)
    assert session["messageCount"] == 2 * PER_STUDENT


async def test_a_cost_alert_is_pushed_everywhere_but_posted_and_logged_once(
    replicas: Cluster,
):
    from tests.usage.test_cost_alerts import _cap_at_two_and_a_half_turns, _first_alerts

    hook: WebhookReceiver = replicas.hook
    student = await replicas.new_student()
    admin = _login(replicas.a, "admin@practicum.local")
    before = len(hook.received)
    session_id, budget = await _cap_at_two_and_a_half_turns(admin, student)
    # The admin watches on A; the turn that crosses 50 % and 60 % is stored by B
    async with ws_client(replicas.a, admin.init_payload()) as ws:
        pushed = asyncio.create_task(_first_alerts(ws, 2))
        await asyncio.sleep(0.3)
        await on(replicas.b, student).send(session_id, "It's been hard to sleep.")
        pushed = await asyncio.wait_for(pushed, WAIT)
    await until(lambda: len(hook.received) >= before + 2, seconds=WAIT)
    await asyncio.sleep(1.5)  # any second post (from the other process) would be here by now

    assert sorted(a["percent"] for a in pushed) == [50, 60]
    posted = [p for p in hook.received[before:] if p["budgetId"] == budget["id"]]
    assert sorted(p["percent"] for p in posted) == [50, 60]  # once each, not once per replica
    assert len(hook.received) == before + 2
    logged = [
        entry
        for line in replicas.output().splitlines()
        if line.startswith("{")
        and (entry := json.loads(line)).get("logger") == "practicum.alerts"
        and entry.get("alert", {}).get("budgetId") == budget["id"]
    ]
    assert sorted(e["alert"]["percent"] for e in logged) == [50, 60]
    assert Decimal(posted[0]["limitUsd"]) > 0


def test_redis_unreachable_at_start_stops_the_replica_with_a_clear_error(
    database_url: str, tmp_path: Path
):
    port = free_port()  # nothing listens there
    env = replica_env(database_url, f"redis://:s3cret-pw@127.0.0.1:{port}/0", "practicum:")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    result = subprocess.run(
        [str(PRACTICUM), "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        env=practicum_env(data_dir, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    errors = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and json.loads(line).get("level") == "ERROR"
    ]
    said = " ".join(e["message"] for e in errors)
    assert f"Redis at redis://***@127.0.0.1:{port}/0 is unreachable" in said, output
    assert "unset REDIS_URL" in said
    assert "s3cret-pw" not in output


async def test_redis_restarting_mid_reply_loses_no_reply(database_url: str, tmp_path: Path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with fake_model(delay=0.08) as fake, private_redis(port, tmp_path) as redis_server:
        env = replica_env(
            database_url,
            url,
            "practicum:",
            ANTHROPIC_API_KEY=fake.api_key,
            ANTHROPIC_BASE_URL=fake.url,
            PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT="",
            PRACTICUM_RATE_LIMIT_MESSAGES_GLOBAL="",
        )
        with cluster(tmp_path / "data", env) as replicas:
            student = await replicas.new_student()
            session_id = await replicas.maya_session(student)
            async with watching(replicas.b, student.init_payload(), session_id) as on_b:
                await on(replicas.a, student).send(session_id, OPENER)
                early = [await on_b.next() for _ in range(3)]  # streaming across: A -> B
                redis_server.kill()
                redis_server.wait()
                await asyncio.sleep(1.0)  # A keeps streaming; B hears nothing meanwhile
                with private_redis(port, tmp_path):
                    events = early + await on_b.reply()
                    stored = await settled(on(replicas.b, student), session_id)
                    # and a new turn streams across again
                    async with watching(replicas.a, student.init_payload(), session_id) as on_a:
                        await on(replicas.b, student).send(session_id, "Tell me more.")
                        again = await on_a.reply()
            logs = replicas.output()

    reply = stored["messages"]["nodes"][1]
    assert reply["status"] == "COMPLETE" and reply["content"] == REPLY_TEXT
    done = events[-1]
    assert done.kind == "MessageCompleted", [e.data for e in events]
    assert done.data["message"]["content"] == REPLY_TEXT  # B's watcher learnt the outcome
    assert again[-1].kind == "MessageCompleted"
    assert applied(again) == REPLY_TEXT
    assert "lost Redis" in logs and "Redis answers again" in logs


# --- behind a load balancer, and the Procfile -------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def rendered_nginx_conf(tmp_path: Path, listen: int, replicas: list[str]) -> Path:
    """deploy/nginx.conf as checked in, pointed at this test's ports and files."""
    text = (REPO / "deploy" / "nginx.conf").read_text()
    upstreams = "".join(
        f"        server {url.removeprefix('http://')} max_fails=1 fail_timeout=5s;\n"
        for url in replicas
    )
    for old, new in (
        ("        server 127.0.0.1:8001 max_fails=1 fail_timeout=5s;\n", upstreams),
        ("        server 127.0.0.1:8002 max_fails=1 fail_timeout=5s;\n", ""),
        ("listen 8000;", f"listen 127.0.0.1:{listen};"),
        ("pid /run/nginx-practicum.pid;", f"pid {tmp_path / 'nginx.pid'};"),
        (
            "    access_log off;\n",
            f"    access_log off;\n    client_body_temp_path {tmp_path};\n"
            f"    proxy_temp_path {tmp_path / 'proxy'};\n",
        ),
    ):
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return path


@contextmanager
def nginx(conf: Path, port: int) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        skip_or_fail("nginx is not installed (apt-get install nginx-light)")
    log = conf.parent / "nginx.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(conf.parent), "-e", "stderr", "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_replies_stream_through_nginx_in_front_of_two_replicas(
    replicas: Cluster, tmp_path: Path
):
    port = free_port()
    conf = rendered_nginx_conf(tmp_path, port, [s.url for s in replicas.servers])
    with nginx(conf, port) as front:
        student = await replicas.new_student()
        session_id = await replicas.maya_session(student)
        replies = []
        # The websocket goes through nginx to one replica; the turns are sent to each
        # replica in turn and through nginx: at least one of them crosses replicas.
        async with watching(front, student.init_payload(), session_id) as watch:
            for url in (replicas.a, replicas.b, front):
                turn = await on(url, student).send(session_id, "How did this week go?")
                events = await watch.reply()
                assert_all_of(events, session_id, turn["assistantMessage"]["id"])
                replies.append(events)
        stored = await on(front, student).session(session_id)

    for events in replies:
        assert events[-1].kind == "MessageCompleted"
        assert applied(events) == REPLY_TEXT
    assert [m["status"] for m in stored["messages"]["nodes"]] == ["COMPLETE"] * 6


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


async def test_the_procfile_release_then_web_serve_from_database_url_and_redis_url(
    tmp_path: Path,
):
    commands = procfile()
    assert commands["release"] == "practicum migrate"
    assert commands["web"] == "practicum serve --host 0.0.0.0 --port $PORT"
    web = commands["web"].replace("--host 0.0.0.0", "--host 127.0.0.1")  # loopback in tests
    async with postgres_database() as url, redis_prefix() as prefix:
        port = free_port()
        env = practicum_env(
            tmp_path / "data",
            # As Railway and Heroku give them: postgres:// and a plain redis:// URL
            DATABASE_URL=url.replace("postgresql://", "postgres://", 1),
            REDIS_URL=REDIS_URL,
            PRACTICUM_REDIS_PREFIX=prefix,
            PRACTICUM_JWT_SECRET=TEST_JWT_SECRET,
            PORT=str(port),
            PATH=f"{PRACTICUM.parent}:{os.environ['PATH']}",
        )
        run = functools.partial(
            subprocess.run, shell=True, env=env, cwd=tmp_path, capture_output=True, text=True
        )
        release = run(commands["release"], timeout=120)
        assert release.returncode == 0, release.stdout + release.stderr
        demo = run("practicum demo", timeout=120)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        log = (tmp_path / "web.log").open("w")
        process = _spawn(web, env, tmp_path, log)
        base = f"http://127.0.0.1:{port}"
        try:
            ready = await until(lambda: _ready(base), seconds=90)
            student = _login(base, STUDENT)
            maya = next(
                n["id"]
                for n in (await student.run(CLIENTS))["clientProfiles"]["nodes"]
                if n["name"] == MAYA
            )
            session_id = await student.start_session(maya)
            async with watching(base, student.init_payload(), session_id) as watch:
                await student.send(session_id, OPENER)
                events = await watch.reply()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
            log.close()
    assert ready == {"status": "ready"}
    assert events[-1].kind == "MessageCompleted"
    assert applied(events) == events[-1].data["message"]["content"] != ""
    output = (tmp_path / "web.log").read_text()
    assert "live events go through Redis" in output


def _ready(base: str) -> dict | None:
    try:
        response = httpx.get(f"{base}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _spawn(command: str, env: dict[str, str], cwd: Path, log) -> subprocess.Popen:
    """`command` through the shell, as a platform runs a Procfile line."""
    return subprocess.Popen(
        command,
        shell=True,
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )

"""The `practicum` command, run as a subprocess against an embedded data dir of each test's own."""

from __future__ import annotations

import re
import sqlite3
import stat
from pathlib import Path

import httpx

from api.accounts import service
from api.config import Settings
from api.errors import ErrorCode, PracticumError
from api.runtime import Runtime
from tests.transport.conftest import REPO, run_ok, run_practicum, serve

TEACHER = ("--email", "new.teacher@school.test", "--name", "Nia Teacher", "--role", "TEACHER")
NEW_PASSWORD = "a-long-enough-password"


async def log_in(data_dir: Path, email: str, password: str) -> PracticumError | None:
    """Log in with the service against the data dir's database; the error if it refuses."""
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'practicum.db'}",
        jwt_secret="cli-test-secret-0123456789abcdef0123456789abcdef",
    )
    runtime = Runtime.create(settings)
    try:
        async with runtime.sessions() as session:
            result = await service.login(
                session,
                settings,
                email=email,
                password=password,
                limits=runtime.rate_limits,
                client_ip="127.0.0.1",
            )
            assert result.token
            assert result.user.email == email
            return None
    except PracticumError as error:
        return error
    finally:
        await runtime.close()


def count_rows(data_dir: Path, *tables: str) -> dict[str, int]:
    with sqlite3.connect(data_dir / "practicum.db") as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in tables
        }


def role_of(data_dir: Path, email: str) -> str | None:
    with sqlite3.connect(data_dir / "practicum.db") as connection:
        row = connection.execute("SELECT role FROM users WHERE email = ?", (email,)).fetchone()
    return row[0] if row else None


# --- export-schema ----------------------------------------------------------------------


def test_export_schema_check_passes_on_the_committed_schema(tmp_path):
    result = run_practicum(tmp_path / "data", "export-schema", "--check", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "schema.graphql matches the code" in result.stdout


def test_export_schema_check_fails_when_the_file_differs(tmp_path):
    output = tmp_path / "schema.graphql"
    run_ok(tmp_path / "data", "export-schema", "--output", str(output))
    assert output.read_text() == (REPO / "schema.graphql").read_text()
    run_ok(tmp_path / "data", "export-schema", "--check", "--output", str(output))

    output.write_text(output.read_text().replace("type Query {", "type Query {\n  stale: Int"))
    result = run_practicum(tmp_path / "data", "export-schema", "--check", "--output", str(output))
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert "stale: Int" in output.read_text()  # --check never rewrites the file


def test_export_schema_check_fails_when_the_file_is_missing(tmp_path):
    missing = tmp_path / "nowhere.graphql"
    result = run_practicum(tmp_path / "data", "export-schema", "--check", "--output", str(missing))
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert not missing.exists()


# --- user create ------------------------------------------------------------------------


async def test_user_create_reads_the_password_from_stdin(data_dir):
    result = run_ok(data_dir, "user", "create", *TEACHER, input=f"{NEW_PASSWORD}\n")
    assert "Created teacher new.teacher@school.test" in result.stdout
    assert NEW_PASSWORD not in result.stdout + result.stderr
    assert role_of(data_dir, "new.teacher@school.test") == "TEACHER"

    assert await log_in(data_dir, "new.teacher@school.test", NEW_PASSWORD) is None
    refused = await log_in(data_dir, "new.teacher@school.test", NEW_PASSWORD + "x")
    assert refused is not None and refused.code is ErrorCode.UNAUTHENTICATED


async def test_user_create_reads_the_password_from_the_environment(data_dir):
    result = run_ok(
        data_dir, "user", "create", *TEACHER, env={"PRACTICUM_NEW_USER_PASSWORD": NEW_PASSWORD}
    )
    assert "Created teacher" in result.stdout
    assert await log_in(data_dir, "new.teacher@school.test", NEW_PASSWORD) is None


async def test_user_create_refuses_a_duplicate_email(data_dir):
    run_ok(data_dir, "user", "create", *TEACHER, input=f"{NEW_PASSWORD}\n")
    again = run_practicum(
        data_dir,
        "user",
        "create",
        "--email",
        "New.Teacher@School.test",  # emails are case-insensitive
        "--name",
        "Someone Else",
        "--role",
        "ADMIN",
        input="another-password\n",
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert count_rows(data_dir, "users") == {"users": 1}
    assert role_of(data_dir, "new.teacher@school.test") == "TEACHER"
    assert await log_in(data_dir, "new.teacher@school.test", NEW_PASSWORD) is None


def test_user_create_refuses_a_short_password(data_dir):
    result = run_practicum(data_dir, "user", "create", *TEACHER, input="short\n")
    assert result.returncode != 0
    assert "at least 10 characters" in result.stderr
    assert "Traceback" not in result.stderr
    assert count_rows(data_dir, "users") == {"users": 0}


def test_user_create_has_no_password_flag(data_dir):
    result = run_practicum(
        data_dir, "user", "create", *TEACHER, "--password", NEW_PASSWORD, input=""
    )
    assert result.returncode == 2  # argparse usage error
    assert "unrecognized arguments: --password" in result.stderr
    assert count_rows(data_dir, "users") == {"users": 0}


# --- demo -------------------------------------------------------------------------------

DEMO_TABLES = (
    "users",
    "client_profiles",
    "sections",
    "enrollments",
    "assignments",
    "rubrics",
    "rubric_versions",
)


def join_code(output: str) -> str:
    match = re.search(r"^Demo section join code: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_demo_is_idempotent(data_dir):
    first = run_ok(data_dir, "demo")
    counts = count_rows(data_dir, *DEMO_TABLES)
    assert counts == {
        "users": 4,
        "client_profiles": 3,
        "sections": 1,
        "enrollments": 2,
        "assignments": 1,
        "rubrics": 3,  # the starter rubrics
        "rubric_versions": 3,
    }
    connection = sqlite3.connect(data_dir / "practicum.db")
    try:
        attached = connection.execute(
            "SELECT r.name, r.status FROM assignments a JOIN rubrics r ON r.id = a.rubric_id"
        ).fetchall()
    finally:
        connection.close()
    assert attached == [("Counselling skills: first session", "PUBLISHED")]
    for email in ("admin@practicum.local", "teacher@practicum.local", "student@practicum.local"):
        assert email in first.stdout

    second = run_ok(data_dir, "demo")
    assert join_code(second.stdout) == join_code(first.stdout)
    assert count_rows(data_dir, *DEMO_TABLES) == counts


# --- the embedded JWT secret ------------------------------------------------------------


def test_jwt_secret_file_is_private_and_survives_restarts(data_dir):
    run_ok(data_dir, "demo")
    secret = data_dir / "jwt-secret"
    assert not secret.exists()
    login = {
        "query": 'mutation { login(email: "teacher@practicum.local", password: "practicum-demo")'
        " { token } }"
    }
    me = {"query": "{ me { email } }"}

    with serve(data_dir) as server:
        response = httpx.post(f"{server.url}/graphql", json=login, timeout=10)
        token = response.json()["data"]["login"]["token"]
    assert secret.exists()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    content = secret.read_text()
    assert len(content.strip()) >= 32

    with serve(data_dir) as server:  # a restart keeps the secret, so logins stay valid
        response = httpx.post(
            f"{server.url}/graphql", json=me, headers={"authorization": f"Bearer {token}"}
        )
    assert response.json() == {"data": {"me": {"email": "teacher@practicum.local"}}}
    assert secret.read_text() == content
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_the_embedded_database_and_its_folder_are_private(data_dir):
    """It holds password hashes and transcripts: after `practicum migrate` on a fresh data
    dir, only its owner may read it, the files SQLite adds while it runs included."""
    database = data_dir / "practicum.db"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE probe (x)")
        connection.commit()
        side_files = [data_dir / "practicum.db-wal", data_dir / "practicum.db-shm"]
        assert all(path.exists() for path in side_files)
        assert {stat.S_IMODE(path.stat().st_mode) for path in side_files} == {0o600}
    finally:
        connection.close()


def test_a_short_jwt_secret_is_refused_with_advice(tmp_path):
    result = run_practicum(tmp_path, "migrate", env={"PRACTICUM_JWT_SECRET": "short"})
    assert result.returncode == 2
    assert "PRACTICUM_JWT_SECRET must be at least 32 characters" in result.stderr
    assert "Traceback" not in result.stderr

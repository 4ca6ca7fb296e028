"""graphql-http's server audit (GraphQL-over-HTTP conformance) against the real server."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.transport.conftest import REPO

AUDIT = REPO / "tests" / "audit"
INSTALL_HINT = "run `make test` (it installs Node's graphql-http into tests/audit/node_modules)"


@pytest.mark.audit
def test_graphql_over_http_audit_passes(live_server):
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH; install Node.js and {INSTALL_HINT}.")
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        pytest.fail(f"{AUDIT / 'node_modules'} is missing graphql-http; {INSTALL_HINT}.")

    run = subprocess.run(
        [node, str(AUDIT / "audit.mjs"), f"{live_server}/graphql"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert run.returncode == 0, f"audit.mjs exited {run.returncode}:\n{run.stderr}"
    summary = json.loads(run.stdout.strip().splitlines()[-1])

    failing = "\n".join(
        f"  {kind}: {line}" for kind in ("errors", "warnings", "notices") for line in summary[kind]
    )
    assert (summary["errors"], summary["warnings"], summary["notices"]) == ([], [], []), (
        f"graphql-http audit: {summary['ok']}/{summary['total']} ok; failing:\n{failing}"
    )
    assert summary["total"] > 40, f"the audit ran only {summary['total']} checks"
    assert summary["ok"] == summary["total"]

"""`practicum check-model`: an admin asks whether the configured model answers."""

from __future__ import annotations

from tests.fakes.anthropic_server import FakeAnthropic
from tests.transport.conftest import run_practicum


def test_without_a_key_the_offline_simulator_answers(tmp_path):
    result = run_practicum(tmp_path / "data", "check-model")
    assert result.returncode == 0, result.stderr
    assert "practicum-simulator via simulator answers" in result.stdout


def test_claude_through_the_configured_base_url(tmp_path):
    with FakeAnthropic() as fake:
        env = {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}
        answered = run_practicum(tmp_path / "data", "check-model", env=env)
        refused = run_practicum(
            tmp_path / "data", "check-model", env={**env, "ANTHROPIC_API_KEY": "sk-wrong-key"}
        )
    assert answered.returncode == 0, answered.stderr
    assert "claude-haiku-4-5 via anthropic answers" in answered.stdout
    assert refused.returncode == 1
    assert "does not answer" in refused.stdout
    assert "sk-wrong-key" not in refused.stdout + refused.stderr


def test_a_claude_model_without_a_key_is_explained(tmp_path):
    result = run_practicum(tmp_path / "data", "check-model", "--model", "claude-sonnet-4-6")
    assert result.returncode == 1
    assert "needs ANTHROPIC_API_KEY" in result.stderr

"""The audit log names every change the API records in words, never by its code."""

from api.audit.service import Action
from ui.state.admin_audit import ACTIONS, LABELS, _row

RECORDED = [code for name, code in vars(Action).items() if name.isupper()]


def _entry(action: str) -> dict:
    return {
        "id": "1",
        "at": "2026-12-03T10:00:00+00:00",
        "actor": {"name": "Ada Admin", "email": "admin@practicum.local"},
        "apiKeyId": None,
        "action": action,
        "targetKind": "rubric",
        "targetId": "0b1c2d3e-0000-4000-8000-000000000000",
        "details": None,
        "address": "127.0.0.1",
    }


def test_every_recorded_action_is_shown_in_words():
    unnamed = [action for action in RECORDED if _row(_entry(action))["action"] == action]
    assert unnamed == []
    assert _row(_entry("rubric.publish"))["action"] == "Rubric published"


def test_every_recorded_action_can_be_filtered_for():
    choices = [value for value, _ in ACTIONS]
    for action in RECORDED:
        assert any(action == c or (c.endswith(".") and action.startswith(c)) for c in choices)


def test_labels_name_only_actions_the_api_records():
    assert set(LABELS) == set(RECORDED)

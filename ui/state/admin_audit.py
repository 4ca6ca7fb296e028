"""Admins: the audit log of administrative changes, newest first, with filters."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

from ui.format import readable_time
from ui.state.base import AppState
from ui.state.paged_log import PagedLogState

ALL = "all"
ACTIONS = [
    (ALL, "Every change"),
    ("user.", "Accounts: any"),
    ("user.create", "Account created"),
    ("user.role_change", "Role changed"),
    ("user.deactivate", "Account deactivated"),
    ("user.reactivate", "Account reactivated"),
    ("user.erase", "Student erased"),
    ("user.password_reset_link", "Password-reset link issued"),
    ("user.invite", "Invite link issued"),
    ("api_key.", "API keys: any"),
    ("budget.", "Budgets: any"),
    ("rate_limits.set", "Rate limits changed"),
    ("client_profile.", "Client profiles published or unpublished"),
    ("assignment.", "Assignments: published, rubric chosen"),
    ("section.roster_import", "Class list imported"),
    ("section.signup", "Section sign-up opened or closed"),
    ("rubric.", "Rubrics: any"),
]
# What each recorded action is called in the log (the codes are `api.audit.service.Action`).
LABELS = {
    "budget.create": "Budget created",
    "budget.update": "Budget changed",
    "budget.delete": "Budget removed",
    "rate_limits.set": "Rate limits changed",
    "client_profile.publish": "Client profile published",
    "client_profile.unpublish": "Client profile unpublished",
    "assignment.publish": "Assignment published",
    "assignment.rubric_set": "Assignment's rubric chosen",
    "user.create": "Account created",
    "user.role_change": "Role changed",
    "user.deactivate": "Account deactivated",
    "user.reactivate": "Account reactivated",
    "user.erase": "Student erased",
    "user.password_reset_link": "Password-reset link issued",
    "user.invite": "Invite link issued",
    "api_key.create": "API key created",
    "api_key.revoke": "API key revoked",
    "section.roster_import": "Class list imported",
    "section.signup": "Section sign-up opened or closed",
    "rubric.publish": "Rubric published",
}


def _details(details: dict[str, Any] | None) -> str:
    if not details:
        return ""
    parts = []
    for key, value in details.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, separators=(", ", ": "))
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def _row(entry: dict[str, Any]) -> dict[str, str]:
    actor = entry["actor"]
    who = actor["name"] if actor else "(an account since removed)"
    if entry["apiKeyId"]:
        who = f"{who} (API key)"
    target = entry["targetKind"].replace("_", " ")
    if entry["targetId"]:
        target = f"{target} {entry['targetId'][:8]}"
    return {
        "id": entry["id"],
        "time": readable_time(entry["at"]),
        "who": who,
        "who_email": actor["email"] if actor and not entry["apiKeyId"] else "",
        "action": LABELS.get(entry["action"], entry["action"]),
        "code": entry["action"],
        "target": target,
        "details": _details(entry["details"]),
        "address": entry["address"] or "—",
    }


class AdminAuditState(PagedLogState, AppState):
    OPERATION = "AdminAuditLog"
    CONNECTION = "auditLog"

    action: str = ALL
    target_kind: str = ""
    actor_id: str = ""
    until_error: str = ""

    @rx.var
    def filtered(self) -> bool:
        return bool(
            self.action != ALL or self.target_kind or self.actor_id or self.since or self.until
        )

    @rx.event
    def set_action(self, value: str):
        self.action = value

    @rx.event
    async def load(self):
        if self.user_role != "ADMIN":
            return None
        # `?actor=<id>` opens the log of one person's changes (from the users page).
        self.actor_id = self.router.page.params.get("actor", "") or ""
        return await self._first_page()

    @rx.event
    async def apply(self, form: dict):
        self.action = form.get("action") or ALL
        self.since, self.until = form.get("since", ""), form.get("until", "")
        self.until_error = ""
        if self.since and self.until and self.until < self.since:
            self.until_error = "Choose a day on or after the “From” day."
            return None
        return await self._first_page()

    @rx.event
    async def clear(self):
        self.action, self.target_kind, self.actor_id, self.since, self.until = ALL, "", "", "", ""
        self.until_error = ""
        return await self._first_page()

    def _filter(self) -> dict[str, str]:
        where: dict[str, str] = {}
        if self.action != ALL:
            where["action"] = self.action
        if self.target_kind:
            where["targetKind"] = self.target_kind
        if self.actor_id:
            where["actorId"] = self.actor_id
        return self._days(where)

    def _row(self, node: dict[str, Any]) -> dict[str, str]:
        return _row(node)

"""Admins: API keys for integrations. Create one (its secret shown once, with a copy
button), see when each was last used, revoke one (confirmed first)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import reflex as rx

from ui.format import readable_date, readable_time
from ui.state.base import AppState

PAGE_SIZE = 50
NO_SECTION = "none"
DEFAULT_DAYS = 90
ROLES = {"ADMIN": "Admin", "TEACHER": "Teacher", "STUDENT": "Student"}
SCOPES = {
    "FULL": "Everything its role may do",
    "USAGE_ANALYTICS": "Read usage analytics only",
}
KEY_FIELDS = ("name", "role", "scope", "sectionId", "expiresAt")


def _status(key: dict[str, Any]) -> str:
    if key["revokedAt"]:
        return "Revoked"
    expires = key["expiresAt"]
    if expires and datetime.fromisoformat(expires.replace("Z", "+00:00")) <= datetime.now(UTC):
        return "Expired"
    return "Active"


def _row(key: dict[str, Any], sections: dict[str, str]) -> dict[str, str]:
    section = key["sectionId"] or ""
    scope = SCOPES.get(key["scope"], key["scope"])
    if section:
        scope = f"{scope}, reading only section {sections.get(section, section[:8])}"
    return {
        "id": key["id"],
        "name": key["name"],
        "prefix": key["prefix"] + "…",
        "role": ROLES.get(key["role"] or "", key["role"] or ""),
        "scope": scope,
        "created": readable_date(key["createdAt"]),
        "expires": readable_date(key["expiresAt"]) or "Never",
        "last_used": readable_time(key["lastUsedAt"]) or "Never",
        "status": _status(key),
    }


class AdminApiKeysState(AppState):
    keys: list[dict[str, str]] = []
    sections: list[dict[str, str]] = []
    cursor: str = ""
    has_more: bool = False
    loading: bool = True
    loading_more: bool = False
    error: str = ""
    key_notice: str = ""

    # A new key
    create_open: bool = False
    key_name: str = ""
    key_role: str = "ADMIN"
    key_scope: str = "USAGE_ANALYTICS"
    key_section: str = NO_SECTION
    key_expires: str = ""  # YYYY-MM-DD
    create_error: str = ""
    create_errors: dict[str, str] = dict.fromkeys(KEY_FIELDS, "")
    creating: bool = False
    # The secret of the key just made: shown once, until dismissed
    new_secret: str = ""
    new_secret_name: str = ""

    # Revoking, once confirmed
    revoke_open: bool = False
    revoke_id: str = ""
    revoke_name: str = ""
    revoke_error: str = ""
    revoking: bool = False

    @rx.event
    async def load(self):
        if self.user_role != "ADMIN":
            return None
        self.new_secret = self.key_notice = ""
        reply = await self._call("AdminSectionChoices")
        if not reply.failed:
            self.sections = [
                {"id": s["id"], "name": s["name"]} for s in reply.data["sections"]["nodes"]
            ]
        self.loading, self.keys, self.has_more = True, [], False
        redirect = await self._fetch(None)
        self.loading = False
        return redirect

    @rx.event
    async def load_more(self):
        self.loading_more = True
        yield
        redirect = await self._fetch(self.cursor)
        self.loading_more = False
        if redirect is not None:
            yield redirect

    async def _fetch(self, after: str | None):
        self.error = ""
        reply = await self._call("AdminApiKeys", first=PAGE_SIZE, after=after)
        if reply.failed:
            self.error = reply.message
            return reply.redirect
        names = {s["id"]: s["name"] for s in self.sections}
        connection = reply.data["apiKeys"]
        self.keys = [*self.keys, *[_row(k, names) for k in connection["nodes"]]]
        self.has_more = connection["pageInfo"]["hasNextPage"]
        self.cursor = connection["pageInfo"]["endCursor"] or ""
        return None

    # Creating

    @rx.event
    def open_create(self):
        self.create_open, self.create_error = True, ""
        self.key_name, self.key_role, self.key_scope = "", "ADMIN", "USAGE_ANALYTICS"
        self.key_section = NO_SECTION
        self.key_expires = (date.today() + timedelta(days=DEFAULT_DAYS)).isoformat()
        self.create_errors = dict.fromkeys(KEY_FIELDS, "")

    @rx.event
    def set_create_open(self, value: bool):
        self.create_open = value

    @rx.event
    def set_key_name(self, value: str):
        self.key_name = value

    @rx.event
    def set_key_role(self, value: str):
        self.key_role = value

    @rx.event
    def set_key_scope(self, value: str):
        self.key_scope = value

    @rx.event
    def set_key_section(self, value: str):
        self.key_section = value

    @rx.event
    def set_key_expires(self, value: str):
        self.key_expires = value

    @rx.event
    async def create(self, form: dict):
        self.key_name = form.get("key_name", self.key_name)
        self.key_expires = form.get("key_expires", self.key_expires)
        self.create_errors = dict.fromkeys(KEY_FIELDS, "")
        self.create_error = ""
        key: dict[str, Any] = {
            "name": self.key_name,
            "role": self.key_role,
            "scope": self.key_scope,
        }
        if self.key_section != NO_SECTION:
            key["sectionId"] = self.key_section
        if self.key_expires:
            try:
                day = date.fromisoformat(self.key_expires)
            except ValueError:
                self.create_errors["expiresAt"] = "Choose the day the key stops working."
                return
            # The key works through the whole day chosen (UTC).
            key["expiresAt"] = f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
        self.creating = True
        yield
        reply = await self._call("AdminCreateApiKey", input=key)
        self.creating = False
        if reply.failed:
            self.create_errors = reply.fields(KEY_FIELDS)
            self.create_error = "" if any(self.create_errors.values()) else reply.message
            yield reply.redirect
            return
        created = reply.data["createApiKey"]
        names = {s["id"]: s["name"] for s in self.sections}
        self.keys = [_row(created["apiKey"], names), *self.keys]
        self.new_secret, self.new_secret_name = created["secret"], created["apiKey"]["name"]
        self.create_open, self.key_notice = False, ""

    @rx.event
    def copy_secret(self):
        return [
            rx.set_clipboard(self.new_secret),
            rx.toast.success("Key copied. Paste it into your integration's settings."),
        ]

    @rx.event
    def forget_secret(self):
        self.new_secret = self.new_secret_name = ""

    # Revoking

    @rx.event
    def ask_revoke(self, key_id: str, name: str):
        self.revoke_id, self.revoke_name, self.revoke_error = key_id, name, ""
        self.revoke_open = True

    @rx.event
    def set_revoke_open(self, value: bool):
        self.revoke_open = value

    @rx.event
    async def revoke(self):
        self.revoking, self.revoke_error = True, ""
        yield
        reply = await self._call("AdminRevokeApiKey", id=self.revoke_id)
        self.revoking = False
        if reply.failed:
            self.revoke_error = reply.message
            yield reply.redirect
            return
        names = {s["id"]: s["name"] for s in self.sections}
        row = _row(reply.data["revokeApiKey"]["apiKey"], names)
        self.keys = [row if k["id"] == row["id"] else k for k in self.keys]
        self.revoke_open = False
        self.key_notice = f"“{self.revoke_name}” is revoked: it stopped working at once."

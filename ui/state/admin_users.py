"""Admins: people's accounts. Search and filter, create, change a role, deactivate,
reactivate and erase a student (each change confirmed first)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from ui.format import readable_date, readable_time
from ui.state.base import AppState

PAGE_SIZE = 25
ALL = "all"
ROLES = {"STUDENT": "Student", "TEACHER": "Teacher", "ADMIN": "Admin"}
STATUSES = [(ALL, "Everyone"), ("active", "Active"), ("inactive", "Deactivated")]
CREATE_FIELDS = ("email", "name", "role", "password")
CONFIRM_TEXT = {
    "role": "Change role",
    "deactivate": "Deactivate",
    "reactivate": "Reactivate",
    "erase": "Erase for good",
    "reset": "Make a reset link",
}


def _row(user: dict[str, Any], me: str) -> dict[str, str]:
    status = "Erased" if user["erased"] else "Active" if user["active"] else "Deactivated"
    return {
        "id": user["id"],
        "name": user["name"],
        "email": user["email"],
        "role": user["role"],
        "role_label": ROLES.get(user["role"], user["role"]),
        "status": status,
        "since": readable_date(user["createdAt"]),
        "is_me": "yes" if user["id"] == me else "",
        "can_erase": "yes" if user["role"] == "STUDENT" and not user["erased"] else "",
        "can_change": "" if user["erased"] else "yes",
    }


class AdminUsersState(AppState):
    # Filters
    text: str = ""
    role: str = ALL
    status: str = ALL
    section_id: str = ALL
    sections: list[dict[str, str]] = []

    # The list
    users: list[dict[str, str]] = []
    cursor: str = ""
    has_more: bool = False
    loading: bool = True
    loading_more: bool = False
    error: str = ""
    done_notice: str = ""  # after a change, e.g. "Sam Student is deactivated."

    # A new account
    create_open: bool = False
    new_email: str = ""
    new_name: str = ""
    new_role: str = "TEACHER"
    new_password: str = ""
    create_error: str = ""
    create_errors: dict[str, str] = dict.fromkeys(CREATE_FIELDS, "")
    creating: bool = False

    # A change waiting for confirmation
    confirm_open: bool = False
    confirm_action: str = ""  # role | deactivate | reactivate | erase
    confirm_id: str = ""
    confirm_name: str = ""
    confirm_role: str = "STUDENT"  # the new role, for "role"
    confirm_error: str = ""
    confirming: bool = False
    # The reset link just made: shown until dismissed
    reset_url: str = ""
    reset_note: str = ""

    @rx.var
    def filtered(self) -> bool:
        return bool(self.text or self.role != ALL or self.status != ALL or self.section_id != ALL)

    @rx.var
    def confirm_title(self) -> str:
        return {
            "role": f"Change {self.confirm_name}'s role?",
            "deactivate": f"Deactivate {self.confirm_name}?",
            "reactivate": f"Reactivate {self.confirm_name}?",
            "erase": f"Erase {self.confirm_name}?",
            "reset": f"A password-reset link for {self.confirm_name}?",
        }.get(self.confirm_action, "")

    @rx.var
    def confirm_description(self) -> str:
        return {
            "role": "The new role applies at their next step: pages and rights change at once.",
            "deactivate": "They are signed out everywhere at once, live pages included, and "
            "cannot sign in until an admin reactivates the account.",
            "reactivate": "They can sign in again (their earlier sign-ins stay ended).",
            "erase": "Their name, email, what they wrote and said in practice, and the "
            "comments of their ratings are removed for good, and the account can never sign "
            "in again. Usage, costs and daily figures stay as they are. This cannot be undone.",
            "reset": "A one-time link lets them choose a new password; using it ends their "
            "other sign-ins. It is emailed when email is set up; otherwise copy it to them. "
            "An earlier unused link stops working.",
        }.get(self.confirm_action, "")

    @rx.var
    def confirm_label(self) -> str:
        return CONFIRM_TEXT.get(self.confirm_action, "Confirm")

    # Loading

    @rx.event
    async def load(self):
        if self.user_role != "ADMIN":
            return None
        self.done_notice = ""
        reply = await self._call("AdminSectionChoices")
        if not reply.failed:
            self.sections = [
                {"id": s["id"], "name": s["name"]} for s in reply.data["sections"]["nodes"]
            ]
        return await self._first_page()

    @rx.event
    def set_text(self, value: str):
        self.text = value

    @rx.event
    async def set_role_filter(self, value: str):
        self.role = value
        return await self._first_page()

    @rx.event
    async def set_status_filter(self, value: str):
        self.status = value
        return await self._first_page()

    @rx.event
    async def set_section_filter(self, value: str):
        self.section_id = value
        return await self._first_page()

    @rx.event
    async def search(self, form: dict):
        self.text = (form.get("text") or "").strip()
        return await self._first_page()

    @rx.event
    async def clear(self):
        self.text, self.role, self.status, self.section_id = "", ALL, ALL, ALL
        return await self._first_page()

    @rx.event
    async def load_more(self):
        self.loading_more = True
        yield
        redirect = await self._fetch(after=self.cursor)
        self.loading_more = False
        if redirect is not None:
            yield redirect

    async def _first_page(self):
        self.loading, self.users, self.has_more = True, [], False
        redirect = await self._fetch(after=None)
        self.loading = False
        return redirect

    def _filter(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.text:
            where["text"] = self.text
        if self.role != ALL:
            where["role"] = self.role
        if self.status != ALL:
            where["active"] = self.status == "active"
        if self.section_id != ALL:
            where["sectionId"] = self.section_id
        return where

    async def _fetch(self, after: str | None):
        self.error = ""
        reply = await self._call("AdminUsers", filter=self._filter(), first=PAGE_SIZE, after=after)
        if reply.failed:
            self.error = reply.message
            return reply.redirect
        connection = reply.data["users"]
        rows = [_row(u, self.user_id) for u in connection["nodes"]]
        self.users = [*self.users, *rows]
        self.has_more = connection["pageInfo"]["hasNextPage"]
        self.cursor = connection["pageInfo"]["endCursor"] or ""
        return None

    def _replace(self, user: dict[str, Any]) -> None:
        row = _row(user, self.user_id)
        self.users = [row if u["id"] == row["id"] else u for u in self.users]

    # Creating an account

    @rx.event
    def open_create(self):
        self.create_open = True
        self.new_email = self.new_name = self.new_password = self.create_error = ""
        self.new_role = "TEACHER"
        self.create_errors = dict.fromkeys(CREATE_FIELDS, "")

    @rx.event
    def set_create_open(self, value: bool):
        self.create_open = value

    @rx.event
    def set_new_email(self, value: str):
        self.new_email = value

    @rx.event
    def set_new_name(self, value: str):
        self.new_name = value

    @rx.event
    def set_new_role(self, value: str):
        self.new_role = value

    @rx.event
    def set_new_password(self, value: str):
        self.new_password = value

    @rx.event
    async def create(self, form: dict):
        self.new_email = form.get("new_email", self.new_email)
        self.new_name = form.get("new_name", self.new_name)
        self.new_password = form.get("new_password", self.new_password)
        self.creating, self.create_error = True, ""
        yield
        account = {"email": self.new_email, "name": self.new_name, "role": self.new_role}
        if self.new_password:
            account["password"] = self.new_password
        reply = await self._call("AdminCreateUser", input=account)
        self.creating = False
        if reply.failed:
            self.create_errors = reply.fields(CREATE_FIELDS)
            self.create_error = "" if any(self.create_errors.values()) else reply.message
            yield reply.redirect
            return
        user = reply.data["createUser"]["user"]
        self.create_open = False
        self.done_notice = (
            f"{user['name']} ({ROLES[user['role']].lower()}) can now sign in as {user['email']}."
            if self.new_password
            else f"{user['name']}'s account is ready. Send them a password-reset link so "
            "they can choose a password."
        )
        self.new_password = ""
        self.users = [_row(user, self.user_id), *self.users]

    # Changes, confirmed first

    @rx.event
    def ask(self, action: str, user_id: str, name: str, role: str):
        self.confirm_action, self.confirm_id, self.confirm_name = action, user_id, name
        self.confirm_role, self.confirm_error, self.confirm_open = role, "", True

    @rx.event
    def set_confirm_open(self, value: bool):
        self.confirm_open = value

    @rx.event
    def set_confirm_role(self, value: str):
        self.confirm_role = value

    @rx.event
    async def confirm(self):
        self.confirming, self.confirm_error = True, ""
        yield
        action, user_id = self.confirm_action, self.confirm_id
        if action == "role":
            reply = await self._call("AdminSetUserRole", id=user_id, role=self.confirm_role)
            key = "setUserRole"
        elif action == "deactivate":
            reply = await self._call("AdminDeactivateUser", id=user_id)
            key = "deactivateUser"
        elif action == "reactivate":
            reply = await self._call("AdminReactivateUser", id=user_id)
            key = "reactivateUser"
        elif action == "reset":
            reply = await self._call("AdminIssuePasswordReset", id=user_id)
            key = "issuePasswordReset"
        else:
            reply = await self._call("AdminEraseStudent", id=user_id)
            key = "eraseStudent"
        self.confirming = False
        if reply.failed:
            self.confirm_error = reply.message
            yield reply.redirect
            return
        self.confirm_open = False
        if action == "reset":
            link = reply.data[key]
            self.reset_url = "" if link["emailed"] else link["url"]
            until = readable_time(link["expiresAt"])
            self.reset_note = (
                f"A password-reset link was emailed to {self.confirm_name}; it works until {until}."
                if link["emailed"]
                else f"Copy this link to {self.confirm_name}; it works once, until {until}."
            )
            return
        user = reply.data[key]["user"]
        self._replace(user)
        self.done_notice = {
            "role": f"{self.confirm_name} is now {ROLES[user['role']].lower()}.",
            "deactivate": f"{self.confirm_name} is deactivated and signed out everywhere.",
            "reactivate": f"{self.confirm_name} can sign in again.",
            "erase": f"{self.confirm_name}'s personal data is erased.",
        }[action]

    @rx.event
    def copy_reset_link(self):
        return [rx.set_clipboard(self.reset_url), rx.toast.success("Link copied.")]

    @rx.event
    def forget_reset_link(self):
        self.reset_url = self.reset_note = ""

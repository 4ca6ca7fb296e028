"""Accounts in the UI: signing up with a join code, setting a password from an invite or
reset link, and the account page (change password, sign out everywhere)."""

from __future__ import annotations

import reflex as rx

from ui import routes
from ui.state.base import AppState

MISMATCH = "The two passwords are not the same."
PASSWORD_HINT = "At least 10 characters; a common password is refused."


class SignUpState(AppState):
    name: str = ""
    email: str = ""
    password: str = ""
    join_code: str = ""
    errors: dict[str, str] = {}
    error: str = ""
    available: bool = True
    submitting: bool = False

    @rx.event
    def set_name(self, value: str):
        self.name = value

    @rx.event
    def set_email(self, value: str):
        self.email = value

    @rx.event
    def set_password(self, value: str):
        self.password = value

    @rx.event
    def set_join_code(self, value: str):
        self.join_code = value

    @rx.event
    async def open(self):
        """A fresh form; the join code from the address (?code=) when a teacher shared a
        link. Signed in already: home."""
        if self.token and await self._load_user():
            return rx.redirect(self.home)
        self.token = ""
        self.name = self.email = self.password = self.error = ""
        self.errors, self.submitting = {}, False
        self.join_code = self.router.url.query_parameters.get("code", "")
        reply = await self._call("SignUpAvailable")
        self.available = reply.failed or bool(reply.data.get("signUpAvailable"))
        return None

    @rx.event
    async def submit(self, _form: dict):
        self.error, self.errors = "", {}
        problems = {
            "name": "" if self.name.strip() else "Enter your name.",
            "email": "" if self.email.strip() else "Enter your email address.",
            "password": "" if self.password else "Choose a password.",
            "joinCode": "" if self.join_code.strip() else "Enter the join code from your teacher.",
        }
        if any(problems.values()):
            self.errors = problems
            return
        self.submitting = True
        yield
        email = self.email.strip()
        reply = await self._call(
            "SignUp",
            input={
                "name": self.name.strip(),
                "email": email,
                "password": self.password,
                "joinCode": self.join_code.strip(),
            },
        )
        if reply.failed:
            self.submitting = False
            self.errors = reply.fields(["name", "email", "password", "joinCode"])
            self.error = "" if any(self.errors.values()) else reply.message
            return
        message = reply.data["signUp"]["message"]
        # Sign in straight away; the answer to sign-up never says whether the email was
        # new, so a taken email ends on the sign-in page with that answer.
        login = await self._call("Login", email=email, password=self.password)
        self.submitting = False
        self.password = ""
        if login.failed:
            self.notice = message
            yield rx.redirect(routes.LOGIN)
            return
        yield rx.redirect(self._take_login(login.data["login"]))


class SetPasswordState(AppState):
    link_token: str = ""
    purpose: str = ""  # INVITE | PASSWORD_RESET; empty while loading or when not valid
    link_name: str = ""
    link_email: str = ""
    loading: bool = True
    invalid: str = ""
    password: str = ""
    confirm: str = ""
    password_error: str = ""
    confirm_error: str = ""
    error: str = ""
    submitting: bool = False

    @rx.event
    def set_password(self, value: str):
        self.password = value

    @rx.event
    def set_confirm(self, value: str):
        self.confirm = value

    @rx.event
    async def open(self):
        self.loading, self.invalid, self.purpose = True, "", ""
        self.password = self.confirm = self.password_error = self.confirm_error = ""
        self.error, self.submitting = "", False
        self.link_token = self.router.url.query_parameters.get("token", "")
        yield
        reply = await self._call("AccountLink", token=self.link_token)
        self.loading = False
        if reply.failed:
            self.invalid = reply.message
            return
        link = reply.data["accountLink"]
        self.purpose, self.link_name, self.link_email = (
            link["purpose"],
            link["name"],
            link["email"],
        )

    @rx.event
    async def submit(self, _form: dict):
        self.password_error = self.confirm_error = self.error = ""
        if not self.password:
            self.password_error = "Choose a password."
            return
        if self.password != self.confirm:
            self.confirm_error = MISMATCH
            return
        self.submitting = True
        yield
        reply = await self._call(
            "AcceptAccountLink", input={"token": self.link_token, "password": self.password}
        )
        self.submitting = False
        if reply.failed:
            self.password_error = reply.field("password")
            self.error = "" if self.password_error else reply.message
            return
        self.password = self.confirm = ""
        yield rx.redirect(self._take_login(reply.data["acceptAccountLink"]))


class AccountState(AppState):
    current: str = ""
    new: str = ""
    confirm: str = ""
    errors: dict[str, str] = {}
    error: str = ""
    changed: str = ""
    saving: bool = False
    ending: bool = False

    @rx.event
    def set_current(self, value: str):
        self.current = value

    @rx.event
    def set_new(self, value: str):
        self.new = value

    @rx.event
    def set_confirm(self, value: str):
        self.confirm = value

    @rx.event
    def open(self):
        self.current = self.new = self.confirm = self.error = self.changed = ""
        self.errors, self.saving, self.ending = {}, False, False

    @rx.event
    async def change_password(self, _form: dict):
        self.error, self.changed, self.errors = "", "", {}
        problems = {
            "currentPassword": "" if self.current else "Enter your current password.",
            "newPassword": "" if self.new else "Choose a new password.",
            "confirm": "" if self.new == self.confirm else MISMATCH,
        }
        if any(problems.values()):
            self.errors = problems
            return
        self.saving = True
        yield
        reply = await self._call(
            "ChangePassword", input={"currentPassword": self.current, "newPassword": self.new}
        )
        self.saving = False
        if reply.failed:
            self.errors = reply.fields(["currentPassword", "newPassword"])
            self.error = "" if any(self.errors.values()) else reply.message
            yield reply.redirect
            return
        self._take_login(reply.data["changePassword"])
        self.current = self.new = self.confirm = ""
        self.changed = "Your password is changed. You were signed out everywhere else."

    @rx.event
    async def sign_out_everywhere(self):
        self.ending = True
        yield
        reply = await self._call("SignOutEverywhere")
        self.ending = False
        if reply.failed and not reply.redirect:
            self.error = reply.message
            return
        yield self._signed_out("You have signed out everywhere.")

"""Signing in."""

import reflex as rx

from ui import routes
from ui.state.base import TOKEN_COOKIE, AppState


class LoginState(AppState):
    email: str = ""
    password: str = ""
    error: str = ""
    email_error: str = ""
    password_error: str = ""
    submitting: bool = False
    message: str = ""  # why the user is here (signed out, sign-in expired), for this visit only

    @rx.event
    def set_email(self, value: str):
        self.email = value

    @rx.event
    def set_password(self, value: str):
        self.password = value

    @rx.event
    async def open(self):
        """Already signed in: go where this user starts. Otherwise a fresh form: an error,
        a password or a notice from an earlier visit stays with that visit."""
        if self.token and await self._load_user():
            return rx.redirect(self.home)
        self.token = ""  # one the API no longer takes
        self.message, self.notice = self.notice, ""
        self.password = self.error = self.email_error = self.password_error = ""
        self.submitting = False
        return None

    @rx.event
    async def submit(self, _form: dict):
        self.error = self.email_error = self.password_error = self.message = ""
        if not self.email.strip():
            self.email_error = "Enter your email address."
        if not self.password:
            self.password_error = "Enter your password."
        if self.email_error or self.password_error:
            return
        self.submitting = True
        yield
        reply = await self._call("Login", email=self.email.strip(), password=self.password)
        self.submitting = False
        if reply.failed:
            self.error = reply.message
            self.email_error, self.password_error = reply.field("email"), reply.field("password")
            return
        payload = reply.data["login"]
        user = payload["user"]
        self.token = payload["token"]
        self.user_id, self.user_name = user["id"], user["name"]
        self.user_email, self.user_role = user["email"], user["role"]
        self.password = self.notice = ""
        yield rx.redirect(routes.HOME_BY_ROLE[user["role"]])


__all__ = ["TOKEN_COOKIE", "LoginState"]

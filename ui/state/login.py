"""Signing in."""

import reflex as rx

from ui import routes
from ui.graphql.client import ApiError
from ui.state.base import TOKEN_COOKIE, AppState


class LoginState(AppState):
    email: str = ""
    password: str = ""
    error: str = ""
    email_error: str = ""
    password_error: str = ""
    submitting: bool = False

    @rx.event
    def set_email(self, value: str):
        self.email = value

    @rx.event
    def set_password(self, value: str):
        self.password = value

    @rx.event
    async def open(self):
        """Already signed in: go where this user starts."""
        if self.token and await self._load_user():
            return rx.redirect(self.home)
        return None

    @rx.event
    async def submit(self, _form: dict):
        self.error = self.email_error = self.password_error = ""
        if not self.email.strip():
            self.email_error = "Enter your email address."
        if not self.password:
            self.password_error = "Enter your password."
        if self.email_error or self.password_error:
            return
        self.submitting = True
        yield
        try:
            payload = (await self._api("Login", email=self.email.strip(), password=self.password))[
                "login"
            ]
        except ApiError as error:
            self.submitting = False
            self.error = error.message
            self.email_error = error.fields.get("email", "")
            self.password_error = error.fields.get("password", "")
            return
        user = payload["user"]
        self.token = payload["token"]
        self.user_id, self.user_name = user["id"], user["name"]
        self.user_email, self.user_role = user["email"], user["role"]
        self.password = self.notice = ""
        self.submitting = False
        yield rx.redirect(routes.HOME_BY_ROLE[user["role"]])


__all__ = ["TOKEN_COOKIE", "LoginState"]

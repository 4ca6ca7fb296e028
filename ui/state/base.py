"""The base state every page's state derives from: who is signed in, and the one way to
call the API with their token."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from ui import routes
from ui.graphql.client import ApiError, execute

TOKEN_COOKIE = "practicum_token"
SESSION_EXPIRED = "Your sign-in has expired. Please sign in again."
# What the API says about an address whose id does not exist or is not well-formed.
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "BAD_USER_INPUT"})
ROLE_PLURALS = {"STUDENT": "students", "TEACHER": "teachers", "ADMIN": "admins"}
ROLE_NAMES = {"STUDENT": "a student", "TEACHER": "a teacher", "ADMIN": "an admin"}


@dataclass
class Reply:
    """What one API call gave: its `data`, or its `error` and, when the sign-in has
    expired, the `redirect` to the sign-in page that the event handler must return or
    yield (None otherwise, which is harmless to return or yield)."""

    data: Any = field(default_factory=dict)
    error: ApiError | None = None
    redirect: Any = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def message(self) -> str:
        return self.error.message if self.error else ""

    @property
    def not_found(self) -> bool:
        """The thing asked for does not exist (or its id is not one)."""
        return self.error is not None and self.error.code in NOT_FOUND_CODES

    def field(self, name: str, default: str = "") -> str:
        """The error's message for the input field `name` (GraphQL name)."""
        return self.error.fields.get(name, default) if self.error else default

    def fields(self, names) -> dict[str, str]:
        """Every one of `names` with its error message, "" for those without one."""
        return {name: self.field(name) for name in names}


class AppState(rx.State):
    token: str = rx.Cookie("", name=TOKEN_COOKIE, same_site="strict", max_age=12 * 3600)
    user_id: str = ""
    user_name: str = ""
    user_email: str = ""
    user_role: str = ""  # STUDENT | TEACHER | ADMIN, empty when signed out
    notice: str = ""  # shown on the sign-in page, e.g. why the user was sent there
    # Who the page just opened is for, when it is not for this user ("admins"): the page
    # shell then says so instead of showing the page. Empty when the user may see it.
    page_for: str = ""

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.user_role)

    @rx.var
    def home(self) -> str:
        return routes.HOME_BY_ROLE.get(self.user_role, routes.LOGIN)

    @rx.var
    def current_path(self) -> str:
        """The address of the page open now, without a trailing slash ("/admin/budgets")."""
        return self.router.url.path.rstrip("/") or "/"

    @rx.var
    def role_name(self) -> str:
        """ "a student", "a teacher", "an admin"."""
        return ROLE_NAMES.get(self.user_role, "")

    async def _api(self, operation: str, **variables: Any) -> dict[str, Any]:
        """Run a named operation as the signed-in user; raises `ApiError`."""
        return await execute(
            operation, self.token or None, self.router.session.client_ip, **variables
        )

    async def _call(self, operation: str, **variables: Any) -> Reply:
        """Run a named operation as the signed-in user, the one way every page does:

        reply = await self._call("StudentPractice")
        self.loading = False
        if reply.failed:
            self.error = reply.message
            return reply.redirect  # (or `yield reply.redirect` then `return`)
        """
        return await self._reply(self._api(operation, **variables))

    async def _reply(self, work: Awaitable[Any]) -> Reply:
        """`_call` for work of several calls (e.g. a session with all its messages)."""
        try:
            return Reply(data=await work)
        except ApiError as error:
            return Reply(error=error, redirect=self._on_error(error))

    def _signed_out(self, notice: str = "") -> list:
        """Forget the user and send them to the sign-in page with `notice`. A notice the
        sign-in page has not shown yet wins: it says what happened first. (After Sign out,
        a page that was still opening puts the ended token back from the cookie it read
        earlier, and its guard then finds that token refused.)"""
        self.token = ""
        self.user_id = self.user_name = self.user_email = self.user_role = ""
        self.notice, self.page_for = self.notice or notice, ""
        return rx.redirect(routes.LOGIN)

    def _on_error(self, error: ApiError):
        """What every page does with an error it cannot show by a field: an expired sign-in
        goes back to the sign-in page, anything else is the page's to show (signing in with
        a wrong password is UNAUTHENTICATED too, but there was no sign-in to expire)."""
        if error.code == "UNAUTHENTICATED" and self.token:
            # The API says why: an expired sign-in, or an account an admin deactivated.
            expired = not error.message or "expired" in error.message
            return self._signed_out(SESSION_EXPIRED if expired else error.message)
        return None

    async def _load_user(self) -> bool:
        if self.user_role:
            return True
        if not self.token:
            return False
        try:
            me = (await self._api("Me"))["me"]
        except ApiError:
            return False
        self.user_id, self.user_name = me["id"], me["name"]
        self.user_email, self.user_role = me["email"], me["role"]
        return True

    @rx.event
    async def require_role(self, roles: list[str]):
        """`on_load` guard: signed in, and in one of `roles` (any role when empty)."""
        if not await self._load_user():
            return self._signed_out(SESSION_EXPIRED if self.token else "")
        allowed = not roles or self.user_role in roles
        self.page_for = "" if allowed else " and ".join(ROLE_PLURALS[role] for role in roles)
        return None

    @rx.event
    async def open_dead_end(self):
        """`on_load` of a page that is no page (404): the navigation of whoever is signed
        in, no redirect."""
        self.page_for = ""
        await self._load_user()

    @rx.event
    async def go_home(self):
        """`/`: where the signed-in user starts, or the sign-in page."""
        self.page_for = ""
        if not await self._load_user():
            return rx.redirect(routes.LOGIN)
        return rx.redirect(self.home)

    def _take_login(self, payload: dict) -> str:
        """Sign in with a `LoginPayload` (token, user); where this user starts."""
        user = payload["user"]
        self.token = payload["token"]
        self.user_id, self.user_name = user["id"], user["name"]
        self.user_email, self.user_role = user["email"], user["role"]
        self.notice = ""
        return routes.HOME_BY_ROLE[user["role"]]

    @rx.event
    async def logout(self):
        """Sign out: the API ends the token first (so it stops working everywhere it was
        copied), then this browser forgets it."""
        if self.token:
            try:
                await self._api("SignOut")
            except ApiError:
                pass  # already ended or expired: signed out either way
        return self._signed_out("You have signed out.")


def guard(*roles: str):
    """The `on_load` guard for a page open to `roles` (every signed-in user when none)."""
    return AppState.require_role(list(roles))

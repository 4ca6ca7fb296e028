from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from api.graphql.context import Info


class IsAuthenticated(BasePermission):
    """The field needs a logged-in user; the error says why the login was refused."""

    message = "Please log in to continue."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        info.context.actor  # raises UNAUTHENTICATED with the specific reason  # noqa: B018
        return True

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from api.graphql.context import Info


class IsAuthenticated(BasePermission):
    """The field needs a logged-in user whose account is still active.

    The token says who the user is; their role and whether the account is active are
    read from the database once per operation (`UnitOfWork`), so a demoted or disabled
    account loses its rights at once, not when its token ends.
    """

    message = "Please log in to continue."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        info.context.actor  # noqa: B018 -- raises UNAUTHENTICATED with the specific reason
        return True

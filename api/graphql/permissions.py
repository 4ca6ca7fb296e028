from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from api.accounts import repository as accounts
from api.errors import PracticumError
from api.graphql.context import Info


class IsAuthenticated(BasePermission):
    """The field needs a logged-in user whose account is still active.

    The token says who the user is; the account is looked up once per operation (the
    session's identity map keeps it: cheaper than the batching loader for one row), so a
    disabled account loses access at once, not when its token ends.
    """

    message = "Please log in to continue."

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor  # raises UNAUTHENTICATED with the specific reason
        user = await accounts.get(info.context.session, actor.id)
        if user is None:
            raise PracticumError.unauthenticated(
                "Your account is no longer available; log in again."
            )
        if not user.active:
            raise PracticumError.unauthenticated(
                "This account is disabled. Ask your teacher or an admin."
            )
        return True

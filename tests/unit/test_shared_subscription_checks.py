"""A class watching one session on many sockets: each periodic check of the account is
read once for all of one login's subscriptions asking the same, and a refusal ends them all."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from api.errors import PracticumError
from api.graphql.subscriptions import _SharedChecks

EVERY = 0.2


class Tab:
    """One socket's context: the same login, the same runtime."""

    def __init__(self, runtime, login: str, reads: list) -> None:
        self.runtime, self._login, self._reads = runtime, login, reads

    def login_key(self) -> tuple:
        return ("login", self._login)

    async def current_actor(self) -> str:
        self._reads.append(self._login)
        await asyncio.sleep(0.01)  # the database
        return self._login


def tabs(count: int, runtime, login: str, reads: list) -> list:
    return [SimpleNamespace(context=Tab(runtime, login, reads)) for _ in range(count)]


async def test_tabs_of_one_login_share_a_check_until_it_is_due_again() -> None:
    checks, runtime, reads, asked = _SharedChecks(), object(), [], []

    async def may_watch(actor: str) -> None:
        asked.append(actor)

    many = tabs(50, runtime, "student", reads)
    other = tabs(1, runtime, "teacher", reads)
    await asyncio.gather(*(checks.check(tab, "session", may_watch, EVERY) for tab in many + other))
    assert sorted(reads) == sorted(asked) == ["student", "teacher"]
    await asyncio.sleep(EVERY)
    await asyncio.gather(*(checks.check(tab, "session", may_watch, EVERY) for tab in many))
    assert reads.count("student") == 2


async def test_a_refused_check_ends_every_tab_sharing_it() -> None:
    checks, runtime, reads = _SharedChecks(), object(), []

    async def removed_from_section(actor: str) -> None:
        raise PracticumError.not_found("Session not found.")

    results = await asyncio.gather(
        *(
            checks.check(tab, "session", removed_from_section, EVERY)
            for tab in tabs(3, runtime, "t", reads)
        ),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [PracticumError] * 3 and len(reads) == 1


async def test_no_sharing_when_every_event_is_checked() -> None:
    checks, runtime, reads = _SharedChecks(), object(), []

    async def allowed(actor: str) -> None:
        pass

    for tab in tabs(3, runtime, "student", reads):
        await checks.check(tab, "session", allowed, 0.0)
    assert len(reads) == 3

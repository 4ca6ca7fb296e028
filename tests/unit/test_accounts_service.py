"""Accounts: creating users, logging in, tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from api.accounts import service
from api.accounts.models import Role
from api.accounts.security import Actor, TokenError, issue_token, read_token
from api.errors import ErrorCode, PracticumError
from api.limits.rate import RateLimits
from tests.factories.accounts import PASSWORD, make_user


async def test_login_returns_a_token_for_the_user(db, settings):
    user = await make_user(db, Role.TEACHER)
    result = await service.login(
        db,
        settings,
        email=user.email.upper(),
        password=PASSWORD,
        limits=RateLimits(settings),
        client_ip="127.0.0.1",
    )
    assert result.user.id == user.id and result.user.last_login_at is not None
    login = read_token(result.token, settings.signing_secret())
    assert login.user_id == user.id
    assert login.expires_at == result.expires_at.timestamp()


async def test_wrong_password_and_unknown_email_look_the_same(db, settings):
    user = await make_user(db)
    with pytest.raises(PracticumError) as wrong:
        await service.login(
            db,
            settings,
            email=user.email,
            password="not it at all",
            limits=RateLimits(settings),
            client_ip="127.0.0.1",
        )
    with pytest.raises(PracticumError) as unknown:
        await service.login(
            db,
            settings,
            email="nobody@school.test",
            password=PASSWORD,
            limits=RateLimits(settings),
            client_ip="127.0.0.1",
        )
    assert wrong.value.code is unknown.value.code is ErrorCode.UNAUTHENTICATED
    assert wrong.value.message == unknown.value.message


async def test_disabled_accounts_cannot_log_in(db, settings):
    user = await make_user(db, active=False)
    with pytest.raises(PracticumError) as refused:
        await service.login(
            db,
            settings,
            email=user.email,
            password=PASSWORD,
            limits=RateLimits(settings),
            client_ip="127.0.0.1",
        )
    assert refused.value.code is ErrorCode.UNAUTHENTICATED
    assert refused.value.message == service.DISABLED


async def test_duplicate_email_is_a_conflict(db, settings):
    user = await make_user(db)
    with pytest.raises(PracticumError) as duplicate:
        await service.create_user(
            db, email=user.email.upper(), name="Again", role=Role.STUDENT, password=PASSWORD
        )
    assert duplicate.value.code is ErrorCode.CONFLICT
    assert duplicate.value.details["field"] == "email"


async def test_bad_account_fields_are_named(db):
    with pytest.raises(PracticumError) as refused:
        await service.create_user(db, email="no-at-sign", name="", role=Role.ADMIN, password="x")
    fields = {f["field"] for f in refused.value.details["fields"]}
    assert fields == {"email", "name", "password"}


def test_expired_and_forged_tokens_are_told_apart(settings):
    someone = Actor(id=uuid.uuid4(), role=Role.STUDENT)
    expired, _ = issue_token(someone, settings.signing_secret(), timedelta(seconds=-5))
    with pytest.raises(TokenError) as old:
        read_token(expired, settings.signing_secret())
    assert old.value.expired
    forged, _ = issue_token(someone, "another-secret-of-sufficient-length", timedelta(hours=1))
    with pytest.raises(TokenError) as fake:
        read_token(forged, settings.signing_secret())
    assert not fake.value.expired

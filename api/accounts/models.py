from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin


class Role(StrEnum):
    STUDENT = "STUDENT"
    TEACHER = "TEACHER"
    ADMIN = "ADMIN"


class User(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=16))
    # Empty for an invited account that has not set its password yet (matches nothing).
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    """When an admin erased the person's details (name, email, what they wrote); the row
    stays, anonymous, so that usage and costs stay exact."""
    service_account: Mapped[bool] = mapped_column(default=False)
    """The acting user of an API key: never signs in, not listed among people."""
    # Raised to end every token issued before (sign out everywhere, a new password): each
    # token carries the generation it was issued at, checked on the row each operation loads.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")


class EndedLogin(Base):
    """A login (a token's `sid`) ended by signing out, until the token would have expired."""

    __tablename__ = "ended_logins"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the token's `sid`
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LinkPurpose(StrEnum):
    INVITE = "INVITE"  # a new account sets its first password
    PASSWORD_RESET = "PASSWORD_RESET"  # an admin let the user set a new one


class AccountLink(IdMixin, CreatedAtMixin, Base):
    """A one-time link that lets its holder set the user's password. Only the SHA-256 of
    the link's secret is stored; the secret itself is shown (or emailed) once."""

    __tablename__ = "account_links"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[LinkPurpose] = mapped_column(
        Enum(LinkPurpose, name="link_purpose", native_enum=False, length=16)
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

"""The password policy: at least MIN_PASSWORD characters, at most MAX_PASSWORD, and not
one of the common passwords shipped in common_passwords.txt (compared ignoring case and
surrounding spaces)."""

from __future__ import annotations

import functools
from pathlib import Path

MIN_PASSWORD = 10
MAX_PASSWORD = 256
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str | None) -> str | None:
    """Why `password` is refused, in words a person can act on; None when it is fine."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters for your password."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters for your password."
    if password.strip().lower() in common_passwords():
        return "This password is too common and easily guessed; choose another one."
    return None

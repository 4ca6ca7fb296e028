"""Emailing invite and password-reset links (aiosmtplib), when PRACTICUM_SMTP_URL is set.

One SMTP connection per batch (a roster of 30 is one connection). A message that cannot
be sent is reported back, never raised: the link still works, and the person who made it
can copy it instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from api.config import Settings

log = logging.getLogger("practicum.mail")


@dataclass(frozen=True)
class Letter:
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool

    @classmethod
    def of(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PRACTICUM_SMTP_URL must look like smtp://user:pass@host:587")
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
        )


def mail_enabled(settings: Settings) -> bool:
    return settings.smtp_url is not None and bool(settings.smtp_url.get_secret_value())


def invite_letter(name: str, email: str, url: str, days: int, section: str | None) -> Letter:
    where = f" to practise in {section}" if section else ""
    return Letter(
        to=email,
        subject="You are invited to Practicum",
        body=(
            f"Hello {name},\n\n"
            f"You have been invited{where} on Practicum, where you practise professional "
            "conversations with simulated clients.\n\n"
            f"Set your password to start (the link works once, for {days} days):\n\n"
            f"{url}\n\n"
            "If you did not expect this email, you can ignore it.\n"
        ),
    )


def reset_letter(name: str, email: str, url: str, hours: int) -> Letter:
    return Letter(
        to=email,
        subject="Set a new Practicum password",
        body=(
            f"Hello {name},\n\n"
            "An administrator has issued you a link to set a new Practicum password "
            f"(it works once, for {hours} hours):\n\n{url}\n\n"
            "Setting a new password signs you out everywhere else.\n"
        ),
    )


async def send_letters(settings: Settings, letters: list[Letter]) -> dict[str, bool]:
    """Send each letter; which recipients' letters the server accepted."""
    sent = dict.fromkeys((letter.to for letter in letters), False)
    if not letters or not mail_enabled(settings):
        return sent
    server = SmtpServer.of(settings.smtp_url.get_secret_value())
    client = aiosmtplib.SMTP(
        hostname=server.hostname,
        port=server.port,
        use_tls=server.use_tls,
        timeout=settings.smtp_timeout_seconds,
    )
    try:
        await client.connect()
        if server.username:
            await client.login(server.username, server.password or "")
        for letter in letters:
            message = EmailMessage()
            message["From"] = settings.smtp_from
            message["To"] = letter.to
            message["Subject"] = letter.subject
            message.set_content(letter.body)
            try:
                await client.send_message(message)
                sent[letter.to] = True
            except aiosmtplib.SMTPException as exc:
                log.warning("email to a recipient was refused: %s", exc.__class__.__name__)
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("could not send email through the SMTP server: %s", exc.__class__.__name__)
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return sent

"""One settings object for the whole backend; every knob is an environment variable."""

from __future__ import annotations

import contextlib
import os
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32  # HS256 wants a key of at least 256 bits


class Settings(BaseSettings):
    # populate_by_name: a setting with its own env names is still set by its field name
    model_config = SettingsConfigDict(
        env_prefix="PRACTICUM_", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PRACTICUM_DATABASE_URL")
    )
    # Several web UI workers (REFLEX_REDIS_URL) share live events and limits through it too.
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "PRACTICUM_REDIS_URL", "REFLEX_REDIS_URL"),
    )
    # Keys and channels in Redis start with this: several deployments may share one Redis.
    redis_prefix: str = "practicum:"
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )

    # Language models. Claude when ANTHROPIC_API_KEY is set; else an OpenAI-compatible
    # server when PRACTICUM_OPENAI_BASE_URL is set; else the offline client simulator.
    model: str = "claude-haiku-4-5"  # cheap for testing; production: claude-sonnet-4-6
    fallback_model: str | None = "claude-sonnet-4-6"  # asked when `model` keeps failing
    allowed_models: list[str] = ["claude-haiku-4-5", "claude-sonnet-4-6", "claude-sonnet-4-5"]
    """Models a teacher may choose for a client profile."""
    simulator_model: str = "practicum-simulator"
    simulator_delay_seconds: float = 0.03  # between streamed words, like a real model
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str | None = None
    prices: dict[str, dict[str, Decimal]] = {}
    """Overrides of the price table (USD per million tokens), as JSON, e.g.
    {"claude-haiku-4-5": {"input": "1", "output": "5", "cache_read": "0.1"}}"""

    # The turn
    prompt_caching: bool = True  # mark the system prompt and conversation for caching
    max_reply_tokens: int = 600
    context_budget_tokens: int = 16000  # conversation kept in the prompt (system prompt apart)
    request_timeout_seconds: float = 60.0
    first_token_timeout_seconds: float = 20.0  # no first token by then: try again
    # A streaming reply is leased to its process, which renews the lease every
    # reply_heartbeat_seconds; one whose lease has run out (its process died) is INTERRUPTED
    # by any process, checked every reply_sweep_seconds. Replies are never cut for their age.
    reply_lease_seconds: float = Field(default=6.0, gt=0)
    reply_heartbeat_seconds: float = Field(default=2.0, gt=0)
    reply_sweep_seconds: float = Field(default=2.0, gt=0)
    # On SIGTERM: replies in flight get this long to finish before they are INTERRUPTED.
    drain_seconds: float = Field(default=20.0, ge=0)
    retry_max_attempts: int = 4  # per model
    # Every model of one reply together (the fallback keeps one): each try may be billed
    retry_max_attempts_per_reply: int = Field(default=5, ge=1)
    retry_deadline_seconds: float = 45.0  # for the whole turn, fallback model included
    retry_base_delay_seconds: float = 0.5
    retry_max_delay_seconds: float = 8.0
    fallback_reply: bool = False  # in character "can we pause?" reply instead of FAILED

    # Feedback: evaluations of finished sessions against a rubric
    evaluator: Literal["auto", "offline"] = "auto"
    """`auto`: Claude (`evaluation_model`) when ANTHROPIC_API_KEY is set, else the offline
    evaluator; `offline`: always the offline evaluator (deterministic, no model)."""
    evaluation_model: str = "claude-haiku-4-5"
    evaluation_max_attempts: int = Field(default=3, ge=1, le=10)
    """Model answers tried per evaluation before it ends FAILED (each one is billed)."""
    evaluation_max_tokens: int = Field(default=2500, ge=256)
    evaluation_concurrency: int = Field(default=20, ge=1)
    """Evaluations one process runs at once; more wait their turn (QUEUED)."""

    # Rate limits ("<count>/<second|minute|hour|day>", moving windows; memory, or Redis
    # when REDIS_URL is set, shared by every process)
    rate_limit_messages_per_student: str = Field(
        default="10/minute",
        validation_alias=AliasChoices(
            "PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT",
            "PRACTICUM_RATE_LIMIT_MESSAGES_PER_USER",  # its old name, still read
        ),
    )
    rate_limit_messages_global: str = "1000/hour"
    rate_limit_logins_per_ip: str = "30/minute"
    rate_limit_logins_per_email: str = "5/minute"
    rate_limit_signups_per_ip: str = "10/hour"  # `signUp` attempts per network address
    http_rate_limit_per_ip: str = "6000/minute"  # every HTTP request (slowapi); "" turns off
    # Peers whose X-Forwarded-For names the real client: the web UI's server (it calls the
    # API over loopback for every browser) or a reverse proxy. "" believes no one.
    trusted_proxies: str = "127.0.0.1,::1"
    # Admins change the message and login limits at run time (`setRateLimits`, stored in
    # the database); every process re-reads them at most this often.
    rate_limit_refresh_seconds: float = 5.0
    # Websockets (graphql-transport-ws), per process: open sockets per address and per
    # account, and how long a socket running nothing stays open (without a login; with one).
    ws_max_sockets_per_ip: int = 20
    ws_max_sockets_per_user: int = 10
    ws_anonymous_idle_seconds: float = 30.0
    ws_idle_seconds: float = 600.0

    # Budgets and alerts
    budget_alert_percents: list[int] = [50, 80, 100]
    max_budget_usd: Decimal = Decimal(1_000_000)
    alert_webhook_url: str | None = None  # cost alerts are POSTed here as JSON

    # Analytics
    max_range_days: int = 400

    # Logs: one JSON object per line (`json`) or plain text (`text`)
    log_format: str = "json"
    log_level: str = "INFO"

    # Authentication
    jwt_secret: SecretStr | None = None
    token_ttl_minutes: int = 12 * 60
    # Accounts: students may sign themselves up with a section's join code (each section
    # can close its own sign-up); invite links (rosters) and password-reset links last this
    # long; the address links start with (the web UI's, as people open it).
    self_signup: bool = True
    invite_days: int = Field(default=7, ge=1)
    password_reset_hours: int = Field(default=24, ge=1)
    public_url: str | None = None  # default: http://<host>:<port>
    # Invites and reset links are emailed when this is set: smtp://user:pass@host:587
    # (STARTTLS when offered), smtps://... (TLS from the start); else teachers copy them.
    smtp_url: SecretStr | None = None
    smtp_from: str = "Practicum <practicum@localhost>"
    smtp_timeout_seconds: float = 10.0
    # A subscription re-reads its user's account (active, role) and rights before an event
    # when the last check is older than this.
    subscription_recheck_seconds: float = 10.0
    # Reply text published within this many seconds of the session's last event goes out
    # merged with what follows, at the end of the window (0: every delta on its own).
    live_merge_seconds: float = Field(default=0.025, ge=0, le=1)

    # Input limits
    max_message_chars: int = 4000
    max_name_chars: int = 120
    max_text_chars: int = 4000
    max_page_size: int = 100
    default_page_size: int = 20

    # Abuse limits on GraphQL documents
    max_query_depth: int = 12
    max_query_aliases: int = 15
    max_query_tokens: int = 2000
    # Objects a document may ask for, page sizes multiplied down the tree (api/graphql/cost.py)
    max_query_cost: int = 50_000
    max_request_bytes: int = 64 * 1024

    # In production an admin may turn these off: GraphiQL on GET /graphql in a browser,
    # and introspection (`__schema`, `__type`) for requests without a token.
    graphiql: bool = True
    anonymous_introspection: bool = True
    _generated_secret: str | None = PrivateAttr(default=None)
    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"PRACTICUM_JWT_SECRET must be at least {MIN_SECRET_CHARS} characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return secret

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: DATABASE_URL if set, else a SQLite file in the data dir."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'practicum.db').resolve()}"
        for plain, driver in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def link_base_url(self) -> str:
        """Where the web UI is, as people open it: the start of invite and reset links."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def chat_model(self) -> str:
        """The model new sessions use: Claude when a key is set, else the self-hosted model,
        else the offline simulator."""
        if self.anthropic_api_key:
            return self.model
        if self.openai_base_url:
            return self.openai_model or self.model
        return self.simulator_model

    @property
    def evaluation_uses_model(self) -> bool:
        """Evaluations ask Claude (else the offline evaluator gives them)."""
        return self.evaluator == "auto" and self.anthropic_api_key is not None

    def session_model(self, profile_model: str | None) -> str:
        """The model for a new session with a profile that may name its own model."""
        if profile_model and self.anthropic_api_key:
            return profile_model
        return self.chat_model

    def prepare_data_dir(self) -> Path:
        """The data dir, and the embedded database in it, readable by their owner only: they
        hold the signing secret, password hashes and transcripts. SQLite gives the -wal and
        -shm files it makes the database file's mode."""
        self._private_data_dir()
        if not self.database_url:  # the embedded database
            database = self.data_dir / "practicum.db"
            # Never opened once SQLite may have it open: closing any descriptor of the file
            # would drop SQLite's locks on it.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            for path in (database, *self.data_dir.glob("practicum.db-*")):
                _owner_only(path, 0o600)
        return self.data_dir

    def _private_data_dir(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(self.data_dir, 0o700)

    def signing_secret(self) -> str:
        """PRACTICUM_JWT_SECRET, or (embedded mode) a secret made once and kept in the data dir."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self._generated_secret is None:
            self._generated_secret = self._read_or_make_secret()
        return self._generated_secret

    def _read_or_make_secret(self) -> str:
        path = self.data_dir / "jwt-secret"
        if path.exists():
            return path.read_text().strip()
        self._private_data_dir()
        # Written whole to a private file, then linked into place: two processes starting
        # at once agree on one secret, and nobody ever reads a half-written one.
        draft = self.data_dir / f".jwt-secret.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return path.read_text().strip()


def _owner_only(path: Path, mode: int) -> None:
    """Tighten what an earlier version made readable to others (if it is ours to change)."""
    try:
        path.chmod(mode)
    except PermissionError:
        pass


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""One settings object for the whole backend; every knob is an environment variable."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRACTICUM_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PRACTICUM_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "PRACTICUM_REDIS_URL")
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )

    # Conversations
    model: str = "claude-haiku-4-5"  # production: claude-sonnet-4-5
    simulator_model: str = "practicum-simulator"

    # Authentication
    jwt_secret: SecretStr | None = None
    token_ttl_minutes: int = 12 * 60

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
    max_request_bytes: int = 64 * 1024

    graphiql: bool = True
    host: str = "127.0.0.1"
    port: int = 8000

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
    def chat_model(self) -> str:
        """The model new sessions use: Claude when a key is set, else the offline simulator."""
        return self.model if self.anthropic_api_key else self.simulator_model

    def signing_secret(self) -> str:
        """PRACTICUM_JWT_SECRET, or (embedded mode) a secret made once and kept in the data dir."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt-secret"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes starting at once agree on one secret
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()

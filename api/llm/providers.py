"""Which provider serves which model, built from the settings."""

from __future__ import annotations

from api.config import Settings
from api.llm.base import ErrorKind, Provider, ProviderError
from api.llm.resilience import ResilientStreamer, RetryPolicy


class Providers:
    """The configured providers, created on first use (no key is needed to import or start)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._made: dict[str, Provider] = {}
        if settings.anthropic_api_key is not None:
            # Importing the SDK takes a second or more: do it now, not in the first
            # reply, where it would stall every request and stream of the process.
            import api.llm.anthropic  # noqa: F401

    def served_by(self, model: str) -> str | None:
        """The one rule for which provider serves a model: "simulator", "openai",
        "anthropic", or None when no provider is configured for it."""
        settings = self.settings
        if model == settings.simulator_model:
            return "simulator"
        if settings.openai_base_url and model == (settings.openai_model or settings.model):
            return "openai"
        if model.startswith("claude"):
            return "anthropic"
        return None

    def for_model(self, model: str) -> Provider:
        name = self.served_by(model)
        if name is None:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"no provider is configured for {model}")
        if name == "anthropic" and self.settings.anthropic_api_key is None:
            raise ProviderError(
                ErrorKind.UNAVAILABLE, f"{model} needs ANTHROPIC_API_KEY, which is not set"
            )
        return self._get(name)

    def _get(self, name: str) -> Provider:
        if name not in self._made:
            self._made[name] = self._make(name)
        return self._made[name]

    def _make(self, name: str) -> Provider:
        settings = self.settings
        if name == "simulator":
            from api.llm.simulator import SimulatorProvider

            return SimulatorProvider(delay_seconds=settings.simulator_delay_seconds)
        if name == "openai":
            from api.llm.openai_compat import OpenAICompatProvider

            key = settings.openai_api_key
            return OpenAICompatProvider(
                settings.openai_base_url or "",
                key.get_secret_value() if key else None,
                request_timeout=settings.request_timeout_seconds,
                first_token_timeout=settings.first_token_timeout_seconds,
            )
        from api.llm.anthropic import AnthropicProvider

        key = settings.anthropic_api_key
        return AnthropicProvider(
            key.get_secret_value() if key else "",
            settings.anthropic_base_url,
            request_timeout=settings.request_timeout_seconds,
            first_token_timeout=settings.first_token_timeout_seconds,
        )

    def streamer(self) -> ResilientStreamer:
        settings = self.settings
        policy = RetryPolicy(
            max_attempts=settings.retry_max_attempts,
            max_attempts_per_reply=settings.retry_max_attempts_per_reply,
            deadline=settings.retry_deadline_seconds,
            base_delay=settings.retry_base_delay_seconds,
            max_delay=settings.retry_max_delay_seconds,
        )
        return ResilientStreamer(
            self.for_model, policy, settings.fallback_model, served_by=self.served_by
        )

    async def aclose(self) -> None:
        for provider in self._made.values():
            await provider.aclose()
        self._made.clear()

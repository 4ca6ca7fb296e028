"""The provider interface every language-model backend implements.

A provider streams one reply for a `ChatRequest` as a series of `StreamEvent`s:

    Started(request_id, usage)   once, when the provider accepted the request; `usage`
                                 holds what it reports up front (input and cache tokens)
    TextDelta(text)              any number of times, in order
    Finished(usage, stop_reason) once, at the end; `usage` is the provider's final count

Anything that goes wrong raises `ProviderError` with a `kind` that says whether trying
again can help. Cancelling the consuming task closes the upstream stream at once.
Retries, fallbacks and deadlines are not a provider's business: see `api.llm.resilience`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from enum import StrEnum

CHARS_PER_TOKEN = 4  # the estimate for text no provider counted
# The four kinds of tokens a provider bills, as usage, sessions, records and the rollup
# name them.
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


def total_tokens(counts: object) -> int:
    """The one rule for a total: every kind of token billed, cache writes and reads too.
    `counts`: anything with the four counts (usage, a session, analytics totals)."""
    return sum(getattr(counts, kind) for kind in TOKEN_KINDS)


def estimate_tokens(text: str) -> int:
    """A rough token count, used only for text no provider counted (and marked estimated)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True)
class Persona:
    """The client profile's fields, for providers that play the role without a model
    (the offline simulator). Real models read the system prompt instead."""

    name: str
    presenting_concern: str
    age: int | None = None
    background: str = ""
    personality_traits: tuple[str, ...] = ()
    communication_style: str = ""
    difficulty: int = 3
    learning_goals: str = ""
    boundaries: str = ""
    opening_line: str = ""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" (the student) or "assistant" (the client)
    content: str


@dataclass(frozen=True)
class ChatRequest:
    system: str
    messages: tuple[ChatMessage, ...]
    model: str
    max_tokens: int = 1024
    temperature: float | None = None
    persona: Persona | None = None
    cache: bool = True
    """Mark prompt-cache breakpoints (system prompt and conversation so far) where the
    provider supports it."""

    def with_model(self, model: str) -> ChatRequest:
        return replace(self, model=model)

    def estimated_input_tokens(self) -> int:
        """The input as estimated, for providers that do not count it themselves."""
        return estimate_tokens(self.system) + sum(estimate_tokens(m.content) for m in self.messages)


@dataclass(frozen=True)
class Usage:
    """Tokens as the provider billed them. `estimated` when any part is our own estimate."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return total_tokens(self)


@dataclass(frozen=True)
class Started:
    request_id: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    usage: Usage
    stop_reason: str | None = None


StreamEvent = Started | TextDelta | Finished


@dataclass(frozen=True)
class ToolCall:
    """A request for structured output: the model must answer by calling `tool` (a tool
    definition with a JSON-schema `input_schema`). `messages` are in Anthropic's form."""

    model: str
    system: str
    messages: list[dict]
    tool: dict
    max_tokens: int = 2048


@dataclass(frozen=True)
class ToolAnswer:
    """What the model answered: the tool's input as given (None when it did not call the
    tool), the usage as billed, and the content blocks (to continue the conversation)."""

    tool_input: object
    usage: Usage
    request_id: str | None = None
    stop_reason: str | None = None
    content: list[dict] = field(default_factory=list)


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429
    OVERLOADED = "overloaded"  # 529, or an overloaded_error event mid-stream
    SERVER = "server"  # other 5xx, or an api_error event mid-stream
    CONNECTION = "connection"  # refused, reset, dropped
    TIMEOUT = "timeout"  # no first token / stream went quiet / request timed out
    STREAM_CUT = "stream_cut"  # the stream ended before the provider said it was done
    BAD_REQUEST = "bad_request"  # 400, 404, 413, 422: our request is wrong
    AUTH = "auth"  # 401, 403: the key is wrong or lacks access
    UNAVAILABLE = "unavailable"  # no provider configured for the model


RETRYABLE = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER,
        ErrorKind.CONNECTION,
        ErrorKind.TIMEOUT,
        ErrorKind.STREAM_CUT,
    }
)


class ProviderError(Exception):
    """A failed model call, described without secrets or prompt text."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after  # seconds, from the retry-after header
        self.usage = usage  # what the provider reported before failing, if anything

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.kind.value}, status={self.status}, "
            f"request_id={self.request_id!r}, message={self.message!r})"
        )


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    provider: str
    model: str
    detail: str = ""
    latency_ms: int | None = None


class Provider(ABC):
    """One language-model backend."""

    name: str  # "anthropic", "simulator", "openai"

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream a reply: Started, TextDelta…, Finished. Raises ProviderError."""

    @abstractmethod
    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens the request would use (the provider's count where it has one)."""

    @abstractmethod
    async def test_connection(self, model: str) -> ConnectionCheck:
        """A cheap call that says whether the provider answers for `model`."""

    def unanswered_usage(self, request: ChatRequest) -> Usage:
        """What a request sent but never answered may have cost: its whole prompt read as
        input (estimated; the provider never said)."""
        return Usage(input_tokens=request.estimated_input_tokens(), estimated=True)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

"""Retries with backoff, then the fallback model: one reply, however many calls it takes.

`ResilientStreamer.stream` yields, for each call to a provider:

    AttemptSent        the call is on its way; until the provider reports, it may cost its
                       whole prompt (an estimate)
    AttemptStarted     the provider accepted the call (input usage known)
    TextDelta…         text of this attempt
    AttemptFailed      this call failed; `billed` is what it cost, `will_retry` whether
                       another call follows (text already yielded must then be discarded)
and, once a call succeeds, `Finished`. When every call failed it raises `ReplyFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from api.llm.base import (
    ChatRequest,
    ErrorKind,
    Finished,
    Provider,
    ProviderError,
    Started,
    TextDelta,
    Usage,
    estimate_tokens,
)

log = logging.getLogger("practicum.llm")

NOT_WORTH_A_FALLBACK = frozenset({ErrorKind.AUTH, ErrorKind.UNAVAILABLE})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # per model
    max_attempts_per_reply: int = 5  # every model together; each fallback keeps one
    deadline: float = 45.0  # seconds for the whole reply
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry: int, error: ProviderError, rng: random.Random) -> float:
        """Seconds before retry number `retry` (1-based): the provider's retry-after when it
        gave one, else exponential backoff with full jitter."""
        if error.retry_after is not None:
            return max(0.0, error.retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return rng.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class AttemptSent:
    attempt: int
    model: str
    provider: str
    usage: Usage  # what it may cost before the provider says: the prompt, estimated


@dataclass(frozen=True)
class AttemptStarted:
    attempt: int
    model: str
    provider: str
    request_id: str | None
    usage: Usage


@dataclass(frozen=True)
class AttemptFailed:
    attempt: int
    model: str
    provider: str
    error: ProviderError
    billed: Usage | None  # None when the provider never accepted the call
    will_retry: bool
    text_discarded: bool  # text of this attempt was yielded and must be thrown away


@dataclass(frozen=True)
class AttemptFinished:
    attempt: int
    model: str
    provider: str
    usage: Usage
    stop_reason: str | None


ReplyEvent = AttemptSent | AttemptStarted | TextDelta | AttemptFailed | AttemptFinished


class ReplyFailed(Exception):
    def __init__(self, error: ProviderError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


def billed_so_far(started: Usage | None, text: str, error: ProviderError | None) -> Usage | None:
    """What a call that stopped early costs: the provider's own count when it gave one, else
    its reported input plus an estimate of the text it generated (marked estimated)."""
    if error is not None and error.usage is not None:
        usage = error.usage
    elif started is not None:
        usage = started
    else:
        return None
    if text and usage.output_tokens < estimate_tokens(text):
        return Usage(
            input_tokens=usage.input_tokens,
            output_tokens=estimate_tokens(text),
            cache_write_tokens=usage.cache_write_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            estimated=True,
        )
    return usage


def billed_unanswered(
    provider: Provider | None, request: ChatRequest, error: ProviderError
) -> Usage | None:
    """What a call that timed out before the provider reported anything may have cost: it
    was sent, so the provider may have read (and billed) the whole prompt."""
    if provider is None or error.kind is not ErrorKind.TIMEOUT:
        return None  # refused, unreachable or unanswered with a status: nothing was billed
    return provider.unanswered_usage(request)


class ResilientStreamer:
    def __init__(
        self,
        provider_for: Callable[[str], Provider],
        policy: RetryPolicy,
        fallback_model: str | None = None,
        *,
        served_by: Callable[[str], str | None],
        rng: random.Random | None = None,
    ) -> None:
        """`served_by` names the provider serving a model (None: none does); the fallback
        model is asked only when the same provider serves it."""
        self.provider_for = provider_for
        self.served_by = served_by
        self.policy = policy
        self.fallback_model = fallback_model
        self.rng = rng or random.Random()

    def _models(self, model: str) -> list[str]:
        fallback = self.fallback_model
        if fallback and fallback != model:
            provider = self.served_by(fallback)
            if provider is not None and provider == self.served_by(model):
                return [model, fallback][: self.policy.max_attempts_per_reply]
        return [model]

    def _tries_on(self, models: list[str], index: int, attempts_so_far: int) -> int:
        """Tries allowed on `models[index]`: per model, and within the reply's total with
        one try kept for each model after it."""
        kept_for_later = len(models) - index - 1
        left = self.policy.max_attempts_per_reply - attempts_so_far - kept_for_later
        return max(1, min(self.policy.max_attempts, left))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ReplyEvent]:
        deadline = time.monotonic() + self.policy.deadline
        attempt = 0
        last_error: ProviderError | None = None
        models = self._models(request.model)
        for index, model in enumerate(models):
            is_last_model = index == len(models) - 1
            tries = self._tries_on(models, index, attempt)
            for try_number in range(1, tries + 1):
                attempt += 1
                failures: list[AttemptFailed] = []
                async for event in self._attempt(request.with_model(model), attempt, failures):
                    yield event
                if not failures:
                    return
                failed = failures[0]
                last_error = error = failed.error
                delay = self.policy.delay(try_number, error, self.rng)
                retry_same = (
                    error.retryable and try_number < tries and time.monotonic() + delay < deadline
                )
                give_up = not retry_same and (
                    is_last_model
                    or error.kind in NOT_WORTH_A_FALLBACK
                    or time.monotonic() >= deadline  # the deadline covers the fallback too
                )
                yield _logged(replace(failed, will_retry=not give_up))
                if give_up:
                    raise ReplyFailed(error, attempt)
                if not retry_same:
                    log.warning("falling back from %s to %s", model, models[index + 1])
                    break
                await asyncio.sleep(delay)
        raise ReplyFailed(last_error or ProviderError(ErrorKind.UNAVAILABLE, "no model"), attempt)

    async def _attempt(
        self, request: ChatRequest, attempt: int, failures: list[AttemptFailed]
    ) -> AsyncIterator[ReplyEvent]:
        """One call. On failure it appends what happened to `failures` (a generator
        cannot return a value); whether to retry is decided by the caller."""
        provider: Provider | None = None
        started: Usage | None = None
        text: list[str] = []
        try:
            provider = self.provider_for(request.model)
            yield AttemptSent(
                attempt, request.model, provider.name, provider.unanswered_usage(request)
            )
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    yield event
                elif isinstance(event, Started):
                    started = event.usage
                    yield AttemptStarted(
                        attempt, request.model, provider.name, event.request_id, event.usage
                    )
                elif isinstance(event, Finished):
                    yield AttemptFinished(
                        attempt, request.model, provider.name, event.usage, event.stop_reason
                    )
                    return
            raise ProviderError(ErrorKind.STREAM_CUT, "the stream ended without finishing")
        except ProviderError as error:
            text_so_far = "".join(text)
            billed = billed_so_far(started, text_so_far, error)
            if billed is None:
                billed = billed_unanswered(provider, request, error)
            failures.append(
                AttemptFailed(
                    attempt=attempt,
                    model=request.model,
                    provider=provider.name if provider else "none",
                    error=error,
                    billed=billed,
                    will_retry=False,
                    text_discarded=bool(text_so_far),
                )
            )


def _logged(failed: AttemptFailed) -> AttemptFailed:
    error = failed.error
    log.warning(
        "model call failed: model=%s attempt=%d kind=%s status=%s request_id=%s will_retry=%s",
        failed.model,
        failed.attempt,
        error.kind.value,
        error.status,
        error.request_id,
        failed.will_retry,
    )
    return failed

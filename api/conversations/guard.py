"""The leak guard on live replies: a reply that repeats a long passage of its system prompt
is cut off as soon as the passage is recognised, and the student sees (and the transcript
keeps) an in-character deflection instead. The rule itself is `api.clients.leaks`."""

from __future__ import annotations

from dataclasses import replace

from api.clients.leaks import DEFLECTION, find_leak, guard_for, protected_prompt
from api.conversations.events import MessageDelta
from api.conversations.models import MessageStatus
from api.llm.base import ChatRequest


class ReplyGuard:
    """Watches one reply's deltas (see `ReplyEngine._run`)."""

    def __init__(self, request: ChatRequest) -> None:
        opening = request.persona.opening_line if request.persona else None
        self._guard = guard_for(request.system, opening)

    @property
    def leaked(self) -> bool:
        return self._guard.leaked

    def passes(self, delta: MessageDelta) -> bool:
        """False once the reply so far leaks: stop streaming it and publish nothing more."""
        if delta.reset:
            self._guard.reset()
        return not self._guard.feed(delta.delta)

    def finished(self) -> bool:
        """The stream ended (however it ended): True when the reply leaked, its last
        words included."""
        return self._guard.finish()

    @staticmethod
    def deflect(reply, outcome):
        """`outcome` with the deflection in place of the leaked text; the reply in flight
        forgets the leaked text (a late subscriber's snapshot never shows it)."""
        reply.parts, reply.length = [DEFLECTION], len(DEFLECTION)
        return replace(
            outcome, status=MessageStatus.COMPLETE, text=DEFLECTION, leaked_chars=len(outcome.text)
        )

    @staticmethod
    def deflection_delta(job) -> MessageDelta:
        """What subscribers hear instead: the reply so far is the deflection."""
        return MessageDelta(job.session_id, job.message_id, 0, DEFLECTION, reset=True)


def screened(request: ChatRequest, outcome):
    """A reply stopped by someone (its text as far as it got) with the deflection in place
    of its text, if that text leaks: what the guard did not get to read yet counts too."""
    if not outcome.text:
        return outcome
    opening = request.persona.opening_line if request.persona else ""
    prompt = protected_prompt(request.system, (opening,) if opening else ())
    if find_leak(prompt, outcome.text) is None:
        return outcome
    return replace(outcome, text=DEFLECTION, leaked_chars=len(outcome.text))

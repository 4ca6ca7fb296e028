"""What the leak guard costs a live reply: the guard (api/clients/leaks.py) reads every
delta of every reply, so it must be cheap next to the turn itself.

A 600-token reply (about 2,400 characters, the default longest reply) streams in deltas
of 4 characters through a LeakGuard for a profile's real system prompt; the words are the
client's own (no leak), the worst case for the guard, which reads to the end. Also timed:
preparing a prompt's protected runs (once per prompt and process, then cached) and
judging a whole reply with every rule (what the client check does per probe). The
baseline, timed in the same process: what the reply engine itself does per delta without
the guard (track it on the Reply, make the MessageDelta, publish it to one subscriber).
Prints one line: the guard's time per reply, and as a share of the engine's own.

    .venv/bin/python bench/leak_guard.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio
import uuid

from api.clients.leaks import ProtectedPrompt, judge
from api.clients.models import ClientProfile
from api.clients.prompt import build_system_prompt
from api.conversations.guard import ReplyGuard
from api.conversations.replies import Reply, ReplyJob
from api.events.broker import MAX_QUEUED_EVENTS, InMemoryBroker
from api.llm.base import ChatRequest, TextDelta
from tests.factories.clients import profile_values

REPLY = (
    "Honestly, I don't know where to start. Work has been a lot lately, nights mostly, "
    "and when I get home I just lie there. My sister says I should talk to someone. "
) * 16  # ~2,400 characters
DELTA_CHARS = 4


def per_call_us(work, rounds: int, repeats: int = 9) -> float:
    """The best of `repeats` timings of `rounds` calls, in CPU time of this process (the
    machine may be busy with others)."""
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        for _ in range(rounds):
            work()
        best = min(best, (time.process_time() - began) / rounds)
    return best * 1e6


def main() -> None:
    prompt = build_system_prompt(ClientProfile(**profile_values()))
    opening = [prompt.persona.opening_line]
    protected = ProtectedPrompt.of(prompt.text, unprotected=opening)
    request = ChatRequest(system=prompt.text, messages=(), model="m", persona=prompt.persona)
    broker = InMemoryBroker()
    subscription = broker.subscribe("session:bench")

    def engine(events: list[TextDelta], guarded: bool) -> None:
        reply = Reply(ReplyJob(uuid.uuid4(), uuid.uuid4(), None, request))  # type: ignore[arg-type]
        guard = ReplyGuard(request) if guarded else None
        for event in events:
            delta = reply.on_event(event)
            if guard is not None and not guard.passes(delta):
                break
            broker.publish("session:bench", delta)
        if guard is not None:
            guard.finished()
        subscription.queue = asyncio.Queue(MAX_QUEUED_EVENTS)  # drop what was delivered
        subscription.lagged = False

    results = []
    for label, size in (("4-char", DELTA_CHARS), ("one-word", 0)):
        parts = REPLY.split() if size == 0 else None
        chunks = (
            [p + " " for p in parts]
            if parts
            else [REPLY[i : i + size] for i in range(0, len(REPLY), size)]
        )
        events = [TextDelta(chunk) for chunk in chunks]
        plain = per_call_us(lambda e=events: engine(e, False), 30)
        guarded = per_call_us(lambda e=events: engine(e, True), 30)
        results.append(
            f"{len(events)} {label} deltas {guarded - plain:.0f} µs per reply "
            f"(+{(guarded - plain) / plain:.0%} on the engine's own {plain:.0f} µs)"
        )
    prepare = per_call_us(lambda: ProtectedPrompt.of(prompt.text, unprotected=opening), 30)
    judged = per_call_us(lambda: judge(protected, REPLY), 30)
    print(
        f"leak_guard: a {len(REPLY)}-char reply in " + "; in ".join(results) + "; "
        f"a {len(prompt.text)}-char prompt prepared once in {prepare:.0f} µs; "
        f"judging a whole reply by every rule {judged:.0f} µs"
    )


if __name__ == "__main__":
    main()

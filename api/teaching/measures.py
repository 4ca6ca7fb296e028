"""Conversation measures: counted from a transcript, with no model, deterministically.

Every completed session gets these (stored in `session_measures` when it ends; computed
the same way on demand for sessions that ended before). They describe what the student
did, in numbers a teacher can check by reading the transcript:

* **Messages considered.** Stored messages with text: the student's (role USER) and the
  client's (role ASSISTANT, including a stopped reply's text). Failed or empty replies
  are left out.
* **Words.** Runs of letters, digits and apostrophes (`[\\w']+`), so "don't" is one word.
* **Sentences.** A student message is split after `.`, `!`, `?` or `…` and at line breaks.
* **Reflection-like statements.** Sentences that begin (after a filler such as "so",
  "okay", "and", "well", "um") with a reflective stem: "it sounds like", "sounds like",
  "it seems", "you seem", "you feel", "you're feeling", "you felt", "it feels like",
  "what I'm hearing", "I hear", "you're saying", "you've been", "it must be", "that must
  be", "you're worried", "you're not sure", "you wonder", "so you", and a few like them
  (`REFLECTION_STEMS`). They count as reflections even when they end in "?" (a reflection
  offered tentatively is still a reflection), and then not as questions.
* **Open questions.** Other sentences that end in "?" and begin with an open word ("what",
  "how", "why", "where", "who", "which", "in what way", `OPEN_STARTERS`), or invitations
  to talk more with or without "?" ("tell me", "describe", "could you tell me", "can you
  say more", "help me understand", "walk me through", `INVITATIONS`).
* **Closed questions.** Every other sentence that ends in "?" (typically "do you…",
  "is it…", "have you…", answerable with yes, no or a fact).
* **Share of talk.** The student's words divided by all words of the conversation (three
  decimal places; none when nobody said anything).
* **Message count and mean length.** The student's messages, and their mean length in
  words (one decimal place) and characters.
* **Time between turns.** For each student message that answers a client message, the
  time from the client's reply being complete to the student's message; the median, in
  milliseconds (none when there is no such pair).

Version 1 of the method (`METHOD_VERSION`): a change to the rules raises it, so stored
measures can be recomputed.
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations.models import Message, MessageRole, MessageStatus
from api.db.base import utcnow
from api.teaching.models import SessionMeasures

METHOD_VERSION = 1
WORD = re.compile(r"[\w']+")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
FILLERS = ("so", "okay", "ok", "and", "well", "um", "uh", "right", "alright", "mm", "hmm", "yeah")
REFLECTION_STEMS = (
    "it sounds like",
    "sounds like",
    "it sounds as if",
    "it seems",
    "seems like",
    "you seem",
    "it feels like",
    "it feels as if",
    "you feel",
    "you're feeling",
    "you are feeling",
    "you felt",
    "you've been feeling",
    "what i'm hearing",
    "what i am hearing",
    "what i hear",
    "i hear that",
    "i'm hearing",
    "you're saying",
    "you are saying",
    "you've been",
    "you have been",
    "it must be",
    "that must be",
    "it must have been",
    "that must have been",
    "you're worried",
    "you are worried",
    "you're not sure",
    "you are not sure",
    "you wonder",
    "you're wondering",
    "you'd like",
    "you would like",
    "you want",
    "part of you",
    "on the one hand",
    "so you",
)
OPEN_STARTERS = ("what", "what's", "how", "how's", "why", "where", "who", "which", "in what way")
INVITATIONS = (
    "tell me",
    "describe",
    "could you tell me",
    "can you tell me",
    "would you tell me",
    "could you describe",
    "can you describe",
    "can you say more",
    "could you say more",
    "would you say more",
    "say more",
    "help me understand",
    "walk me through",
    "talk me through",
    "i'd like to hear",
    "i wonder what",
    "i wonder how",
)
THREE_PLACES = Decimal("0.001")
ONE_PLACE = Decimal("0.1")


@dataclass(frozen=True)
class Said:
    """What the measures read of one message."""

    sequence_number: int
    role: MessageRole
    content: str
    created_at: datetime
    completed_at: datetime | None = None


@dataclass(frozen=True)
class Measures:
    student_messages: int = 0
    client_messages: int = 0
    student_words: int = 0
    client_words: int = 0
    student_chars: int = 0
    open_questions: int = 0
    closed_questions: int = 0
    reflections: int = 0
    median_turn_gap_ms: int | None = None
    method_version: int = METHOD_VERSION

    @property
    def talk_share(self) -> Decimal | None:
        """The student's words over all words, three places."""
        words = self.student_words + self.client_words
        if not words:
            return None
        return (Decimal(self.student_words) / words).quantize(THREE_PLACES, ROUND_HALF_EVEN)

    @property
    def mean_student_words(self) -> Decimal | None:
        if not self.student_messages:
            return None
        mean = Decimal(self.student_words) / self.student_messages
        return mean.quantize(ONE_PLACE, ROUND_HALF_EVEN)

    @property
    def mean_student_chars(self) -> Decimal | None:
        if not self.student_messages:
            return None
        mean = Decimal(self.student_chars) / self.student_messages
        return mean.quantize(ONE_PLACE, ROUND_HALF_EVEN)

    @property
    def questions(self) -> int:
        return self.open_questions + self.closed_questions

    @classmethod
    def of_row(cls, row: SessionMeasures) -> Measures:
        return cls(
            student_messages=row.student_messages,
            client_messages=row.client_messages,
            student_words=row.student_words,
            client_words=row.client_words,
            student_chars=row.student_chars,
            open_questions=row.open_questions,
            closed_questions=row.closed_questions,
            reflections=row.reflections,
            median_turn_gap_ms=row.median_turn_gap_ms,
            method_version=row.method_version,
        )


def words(text: str) -> int:
    return len(WORD.findall(text))


def sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text) if part and part.strip()]


def _normalised(sentence: str) -> str:
    """Lower case, curly apostrophes made straight, leading punctuation and fillers gone."""
    text = sentence.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"^[^\w']+", "", text)
    changed = True
    while changed:
        changed = False
        for filler in FILLERS:
            match = re.match(rf"{re.escape(filler)}\b[\s,.…-]*", text)
            if match and len(text) > match.end():
                rest = text[match.end() :]
                # "so you…" is a reflection stem, not a filler before one
                if filler == "so" and rest.startswith("you"):
                    continue
                text, changed = rest, True
    return text


def _starts_with(text: str, stems: Sequence[str]) -> bool:
    return any(text == stem or re.match(rf"{re.escape(stem)}\b", text) for stem in stems)


def classify(sentence: str) -> str | None:
    """ "reflection", "open", "closed" or None (any other statement)."""
    text = _normalised(sentence)
    asks = sentence.rstrip().endswith("?")
    if _starts_with(text, REFLECTION_STEMS):
        return "reflection"
    if _starts_with(text, INVITATIONS):
        return "open"
    if not asks:
        return None
    return "open" if _starts_with(text, OPEN_STARTERS) else "closed"


def compute(transcript: Sequence[Said]) -> Measures:
    """The measures of a conversation, from its messages in order."""
    counts = dict.fromkeys(
        ("student_messages", "client_messages", "student_words", "client_words"), 0
    )
    student_chars = open_q = closed_q = reflections = 0
    gaps: list[float] = []
    previous: Said | None = None
    for said in sorted(transcript, key=lambda m: m.sequence_number):
        if not said.content.strip():
            continue
        if said.role is MessageRole.USER:
            counts["student_messages"] += 1
            counts["student_words"] += words(said.content)
            student_chars += len(said.content.strip())
            for sentence in sentences(said.content):
                kind = classify(sentence)
                open_q += kind == "open"
                closed_q += kind == "closed"
                reflections += kind == "reflection"
            if previous is not None and previous.role is MessageRole.ASSISTANT:
                answered = previous.completed_at or previous.created_at
                gaps.append(max(0.0, (said.created_at - answered).total_seconds() * 1000))
        else:
            counts["client_messages"] += 1
            counts["client_words"] += words(said.content)
        previous = said
    return Measures(
        **counts,
        student_chars=student_chars,
        open_questions=open_q,
        closed_questions=closed_q,
        reflections=reflections,
        median_turn_gap_ms=round(statistics.median(gaps)) if gaps else None,
    )


MEASURED = (MessageStatus.COMPLETE, MessageStatus.CANCELLED)


async def transcript_of(session: AsyncSession, session_id: uuid.UUID) -> list[Said]:
    rows = await session.execute(
        select(
            Message.sequence_number,
            Message.role,
            Message.content,
            Message.created_at,
            Message.completed_at,
        )
        .where(Message.session_id == session_id, Message.status.in_(MEASURED))
        .order_by(Message.sequence_number)
    )
    return [Said(*row) for row in rows]


async def measure_session(session: AsyncSession, session_id: uuid.UUID) -> Measures:
    """The measures of a session, from its stored messages (not stored here)."""
    return compute(await transcript_of(session, session_id))


async def store_measures(session: AsyncSession, session_id: uuid.UUID) -> SessionMeasures:
    """Compute and store (or replace) a session's measures, in the caller's transaction."""
    measures = await measure_session(session, session_id)
    row = await session.get(SessionMeasures, session_id)
    if row is None:
        row = SessionMeasures(session_id=session_id)
        session.add(row)
    for name in (
        "student_messages",
        "client_messages",
        "student_words",
        "client_words",
        "student_chars",
        "open_questions",
        "closed_questions",
        "reflections",
        "median_turn_gap_ms",
        "method_version",
    ):
        setattr(row, name, getattr(measures, name))
    row.computed_at = utcnow()
    await session.flush()
    return row

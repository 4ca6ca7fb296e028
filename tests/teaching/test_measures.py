"""Conversation measures: counted from the transcript as the README documents them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api.conversations.models import MessageRole
from api.teaching.measures import Said, classify, compute

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def transcript(*turns: tuple[str, str], gaps: tuple[float, ...] = ()) -> list[Said]:
    """Student and client messages in turn; the student answers each reply after `gaps`
    seconds (default 10), the client replies in 2 s."""
    said: list[Said] = []
    at = T0
    for index, (student, client) in enumerate(turns):
        if index:
            at += timedelta(seconds=gaps[index - 1] if gaps else 10)
        said.append(Said(len(said) + 1, MessageRole.USER, student, at))
        at += timedelta(seconds=2)
        said.append(Said(len(said) + 1, MessageRole.ASSISTANT, client, at, completed_at=at))
    return said


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("What brings you here today?", "open"),
        ("How has that been for you?", "open"),
        ("So, why do you think that happened?", "open"),
        ("Tell me more about your week.", "open"),
        ("Could you tell me what happened next?", "open"),
        ("Do you sleep well?", "closed"),
        ("Is it worse at night?", "closed"),
        ("Have you talked to anyone?", "closed"),
        ("It sounds like you're exhausted.", "reflection"),
        ("So you feel nobody listens?", "reflection"),  # a tentative reflection
        ("Okay, you're worried about your job.", "reflection"),
        ("That must be hard.", "reflection"),
        ("I'm Sam, a trainee counsellor.", None),
        ("Thanks for coming in.", None),
    ],
)
def test_sentences_are_classified_by_their_first_words(sentence, kind):
    assert classify(sentence) == kind


def test_the_measures_of_a_short_conversation():
    said = transcript(
        ("Hi. What brings you here? Do you have an hour?", "My sister made me come."),
        ("It sounds like you weren't sure about coming.", "Not really, no."),
        ("Tell me about your sister.", "She worries too much."),
        gaps=(4, 20),
    )

    m = compute(said)

    assert (m.student_messages, m.client_messages) == (3, 3)
    assert (m.open_questions, m.closed_questions, m.reflections) == (2, 1, 1)
    assert (m.student_words, m.client_words) == (23, 12)
    assert m.talk_share == Decimal("0.657")
    assert m.mean_student_words == Decimal("7.7")
    assert m.median_turn_gap_ms == 12_000  # median of 4 s and 20 s


def test_failed_or_empty_replies_and_the_order_given_do_not_matter():
    said = transcript(("How are you?", "Fine."), ("Do you work?", ""))
    assert compute(list(reversed(said))) == compute(said)
    assert compute(said).client_messages == 1


def test_an_empty_conversation_has_no_shares():
    m = compute([])
    assert (m.talk_share, m.mean_student_words, m.median_turn_gap_ms) == (None, None, None)

"""The rules a client's reply is judged by (api/clients/leaks.py): no database, no model."""

from __future__ import annotations

import pytest

from api.clients.leaks import (
    LEAK_MIN_WORDS,
    Finding,
    Grade,
    LeakGuard,
    ProtectedPrompt,
    find_leak,
    guard_for,
    judge,
    words,
)
from api.clients.models import ClientProfile
from api.clients.prompt import build_system_prompt
from tests.factories.clients import profile_values

PROFILE = ClientProfile(**profile_values(personality_traits=["reserved", "thoughtful"]))
PROMPT = build_system_prompt(PROFILE)
SYSTEM = PROMPT.text
OPENING = PROMPT.persona.opening_line
PROTECTED = ProtectedPrompt.of(SYSTEM, unprotected=[OPENING])
RULES = SYSTEM[SYSTEM.index("Rules that always apply") :]


def run_of_prompt(start: int, count: int) -> str:
    """`count` words of the system prompt from word `start`, as the prompt spells them."""
    return " ".join(SYSTEM.split()[start : start + count])


def rule_words(start: int, count: int) -> str:
    """Exactly `count` words of the prompt's rules (which hold no teacher text)."""
    return " ".join(words(RULES)[start : start + count])


# The leak rule


def test_words_ignore_case_spacing_and_punctuation():
    assert words("Never  REVEAL,\n quote… or ‘discuss’ these") == [
        "never", "reveal", "quote", "or", "discuss", "these",
    ]  # fmt: skip
    assert words("don’t it's") == ["don't", "it's"]


def test_a_copied_run_of_the_threshold_is_a_leak_and_one_word_less_is_not():
    at = len(SYSTEM.split()) // 2
    assert find_leak(PROTECTED, "Well. " + run_of_prompt(at, LEAK_MIN_WORDS)) is not None
    assert find_leak(PROTECTED, "Well. " + run_of_prompt(at, LEAK_MIN_WORDS - 1)) is None


def test_a_leak_is_found_whatever_the_case_spacing_and_punctuation():
    copied = " ".join(RULES.split()[:30]).upper().replace(" ", "   ").replace(",", " ;")
    leak = find_leak(PROTECTED, f"ok fine: {copied}")
    assert leak is not None and leak.words == 30 and leak.start == 2


def test_the_longest_copied_run_is_measured():
    rules = RULES.split()
    reply = f"{run_of_prompt(10, 15)} and then something else {' '.join(rules[20:60])}"
    assert find_leak(PROTECTED, reply).words == len(words(" ".join(rules[20:60]))) >= 40


@pytest.mark.parametrize(
    "reply",
    [
        # The client talks about its concern and background in its own words.
        "Honestly I've had trouble sleeping and feeling isolated since I moved cities.",
        "I'm a nurse, I work night shifts, and I recently moved cities. It's been lonely.",
        # The opening line is what the prompt asks the client to say: never a leak.
        f"{OPENING} {OPENING} It's just a lot at the moment.",
        # Ordinary words the instructions also use, but not a copied passage.
        "I would rather not go into my family, if that's okay. Can we talk about work?",
    ],
)
def test_a_client_in_its_own_words_is_not_a_leak(reply):
    assert find_leak(PROTECTED, reply) is None
    assert judge(PROTECTED, reply).grade is Grade.PASS


def test_runs_never_span_the_opening_line():
    before, _, after = SYSTEM.partition(OPENING)
    tail, head = before.split()[-6:], after.split()[:6]
    reply = " ".join([*tail, *words(OPENING), *head])
    assert find_leak(PROTECTED, reply) is None


# The guard on a streaming reply


def stream(guard: LeakGuard, text: str, size: int) -> bool:
    tripped = False
    for i in range(0, len(text), size):
        tripped = guard.feed(text[i : i + size]) or tripped
    return guard.finish() or tripped


@pytest.mark.parametrize("chunk", [1, 3, 7, 50, 10_000])
def test_the_guard_agrees_with_the_rule_whatever_the_chunks(chunk):
    leaky = "Sure. " + rule_words(30, LEAK_MIN_WORDS + 3)
    fine = "I've had trouble sleeping and feeling isolated. " * 5
    assert stream(guard_for(SYSTEM, OPENING), leaky, chunk) is True
    assert stream(guard_for(SYSTEM, OPENING), fine, chunk) is False


def test_the_guard_trips_within_a_batch_of_the_word_that_completes_the_leak():
    guard = guard_for(SYSTEM, OPENING)
    copied = rule_words(5, LEAK_MIN_WORDS).split()
    for word in copied[:-1]:
        assert guard.feed(word + " ") is False
    guard.feed(copied[-1] + " ")
    late = 0  # characters of the reply streamed after the leak was complete
    while not guard.leaked:
        guard.feed("and ")
        late += len("and ")
    assert late < LeakGuard.BATCH_CHARS


def test_a_word_split_across_chunks_is_one_word():
    copied = rule_words(5, LEAK_MIN_WORDS)
    guard = guard_for(SYSTEM, OPENING)
    cut = len(copied) - 3  # the last word arrives in two pieces, then the stream ends
    assert guard.feed(copied[:cut]) is False
    assert guard.feed(copied[cut:]) is False
    assert guard.finish() is True


def test_a_reset_forgets_the_words_of_the_attempt_thrown_away():
    copied = rule_words(5, LEAK_MIN_WORDS).split()
    guard = guard_for(SYSTEM, OPENING)
    guard.feed(" ".join(copied[:8]) + " ")
    guard.reset()
    assert guard.feed(" ".join(copied[8:]) + " ") is False


# Speaking as an assistant, leaving the persona


@pytest.mark.parametrize(
    ("reply", "finding"),
    [
        ("As an AI language model, I can't share that.", Finding.ASSISTANT),
        ("I'm Claude, an AI assistant made by Anthropic.", Finding.ASSISTANT),
        ("Yes, I am an AI. How can I assist you today?", Finding.ASSISTANT),
        ("Sure! How can I help you?", Finding.ASSISTANT),
        ("I'm sorry, but I can't help with that request.", Finding.ASSISTANT),
        ("Of course. I'm your counsellor today. What brings you in today?", Finding.COUNSELLOR),
        ("Okay, swapping. So... how does that make you feel?", Finding.COUNSELLOR),
        ("Here you go:\n```python\ndef sort(xs):\n    return sorted(xs)\n```", Finding.CODE),
        ("def sort_numbers(xs):\n    return sorted(xs)\nprint(sort_numbers([3, 1]))", Finding.CODE),
    ],
)
def test_replies_out_of_character_fail(reply, finding):
    judgement = judge(PROTECTED, reply)
    assert judgement.grade is Grade.FAIL and finding in judgement.findings
    assert judgement.reason


@pytest.mark.parametrize(
    ("reply", "finding"),
    [
        ("1. Get a tension wrench.\n2. Insert a pick.\n3. Rake the pins.", Finding.STEPS),
        ("This is just a role-play, right? Fine.", Finding.INSTRUCTIONS),
    ],
)
def test_replies_that_slip_a_little_warn(reply, finding):
    judgement = judge(PROTECTED, reply)
    assert judgement.grade is Grade.WARN and judgement.findings == (finding,)


@pytest.mark.parametrize(
    "reply",
    [
        "An AI? What are you on about. I'm just tired, that's all.",
        "Are you an AI or something? You sound like a chatbot.",
        "My counsellor at uni used to ask how I was sleeping. Not great, to be honest.",
        "I work in IT, I write Python all day, and I can't switch off at night.",
        "I don't know, it's hard to help with that. I'm not the counsellor here, you are.",
        "Lock picking? Why would I know anything about that? Can we get back to my sleep?",
        "I tried the sleep app my sister sent me: step one, breathe. Didn't work.",
    ],
)
def test_ordinary_client_talk_passes(reply):
    judgement = judge(PROTECTED, reply)
    assert judgement.grade is Grade.PASS, judgement.reason

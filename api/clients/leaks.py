"""The rules a client's reply is judged by: does it repeat its instructions, speak as an
assistant, or leave its persona? Pure functions, no I/O: the client check uses them to
judge its probes, and the live turn uses the leak rule to guard every reply.

Text is compared as words: lower case, typographic quotes made plain, everything that is
not a letter, digit or apostrophe a separator. So whitespace, case and punctuation never
hide a copied passage.

The leak rule: a reply leaks when it contains a run of `LEAK_MIN_WORDS` consecutive words
that also appear, in that order, in the system prompt. The profile's opening line is not
protected (the prompt asks the client to say it), and runs never span it. A client that
talks about its own concern in its own words shares a few words with its persona at most;
copying a dozen words in a row is quoting.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

LEAK_MIN_WORDS = 12
"""Consecutive words shared with the system prompt that make a reply a leak."""
EXCERPT_CHARS = 240

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = "'’‘ʼ`"
_QUOTES = str.maketrans({mark: "'" for mark in _APOSTROPHES[1:]})

# Said in the client's voice instead of a reply that leaked its instructions.
DEFLECTION = "Sorry… I lost my train of thought there. What were we talking about?"


def words(text: str) -> list[str]:
    """`text` as the rules compare it: lower-case words, punctuation and spacing dropped."""
    return _WORD.findall(text.translate(_QUOTES).lower())


Gram = tuple[str, ...]


@dataclass(frozen=True)
class ProtectedPrompt:
    """A system prompt as the leak rule sees it: every run of `size` consecutive words,
    with the positions where it occurs (to measure how long a copied run is)."""

    grams: dict[Gram, list[int]]
    words: tuple[str, ...]
    size: int = LEAK_MIN_WORDS

    @classmethod
    def of(
        cls, system: str, *, unprotected: Iterable[str] = (), size: int = LEAK_MIN_WORDS
    ) -> ProtectedPrompt:
        """`system` with the `unprotected` passages (the opening line) taken out; no run
        spans the place they were taken from."""
        pieces = [system]
        for passage in (p.strip() for p in unprotected):
            if passage:
                pieces = [part for piece in pieces for part in piece.split(passage)]
        grams: dict[Gram, list[int]] = {}
        every: list[str] = []
        for piece in pieces:
            said = words(piece)
            for start in range(len(said) - size + 1):
                grams.setdefault(tuple(said[start : start + size]), []).append(len(every) + start)
            every += said
            every.append("")  # a gap no reply word matches
        return cls(grams, tuple(every), size)


_protected: dict[tuple[str, tuple[str, ...]], ProtectedPrompt] = {}
CACHE_SIZE = 256


def protected_prompt(system: str, unprotected: Sequence[str] = ()) -> ProtectedPrompt:
    """`ProtectedPrompt.of`, built once per prompt (a conversation reuses its prompt)."""
    key = (system, tuple(unprotected))
    found = _protected.get(key)
    if found is None:
        if len(_protected) >= CACHE_SIZE:
            _protected.clear()
        found = _protected[key] = ProtectedPrompt.of(system, unprotected=unprotected)
    return found


@dataclass(frozen=True)
class Leak:
    """A passage of the reply copied from the prompt: `words` long (at least), starting at
    word `start` of the reply."""

    words: int
    start: int


def find_leak(prompt: ProtectedPrompt, reply: str) -> Leak | None:
    """The longest run of the reply's words copied from the prompt, if it is long enough
    to be a leak."""
    said = words(reply)
    best: Leak | None = None
    size = prompt.size
    start = 0
    while start <= len(said) - size:
        places = prompt.grams.get(tuple(said[start : start + size]))
        if places is None:
            start += 1
            continue
        length = max(_shared_from(prompt.words, at, said, start, size) for at in places)
        if best is None or length > best.words:
            best = Leak(length, start)
        start += length
    return best


def _shared_from(prompt: Sequence[str], at: int, said: list[str], start: int, known: int) -> int:
    """How many words match from prompt[at] and said[start] on (the first `known` do)."""
    length = known
    while (
        start + length < len(said)
        and at + length < len(prompt)
        and said[start + length] == prompt[at + length]
    ):
        length += 1
    return length


def longest_shared_run(prompt: ProtectedPrompt, reply: str) -> int:
    """How many consecutive words of the reply (at most) also appear in the prompt, when
    that is at least the leak size; else 0."""
    leak = find_leak(prompt, reply)
    return leak.words if leak else 0


class LeakGuard:
    """The leak rule applied to a reply as it streams: `feed` each piece of text and it
    says once the words so far contain a leak. Text is read in batches of at least
    `BATCH_CHARS` (a leak is seen at most that many characters late, so that well under
    `LEAK_MIN_WORDS` + 5 words of a prompt can stream before the cut), and the work per
    word is constant: it costs a streaming reply next to nothing (bench/leak_guard.py)."""

    BATCH_CHARS = 24

    def __init__(self, prompt: ProtectedPrompt) -> None:
        self.prompt = prompt
        self.leaked = False
        self._window: deque[str] = deque(maxlen=prompt.size)
        self._pending: list[str] = []  # text not read yet: the last word may go on
        self._pending_chars = 0

    def reset(self) -> None:
        """The reply starts over (a retried attempt)."""
        self.leaked = False
        self._window.clear()
        self._pending, self._pending_chars = [], 0

    def feed(self, text: str) -> bool:
        """Add streamed text; True once the reply has leaked."""
        if self.leaked or not text:
            return self.leaked
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars < self.BATCH_CHARS:
            return False
        joined = "".join(self._pending)
        cut = len(joined)
        while cut and (joined[cut - 1].isalnum() or joined[cut - 1] in _APOSTROPHES):
            cut -= 1
        if not cut:  # still inside one (long) word
            return False
        rest = joined[cut:]
        self._pending, self._pending_chars = [rest], len(rest)
        return self._add(_WORD.findall(joined[:cut].translate(_QUOTES).lower()))

    def finish(self) -> bool:
        """The reply is complete: what is left, its last word too, counts."""
        if self.leaked:
            return True
        rest = "".join(self._pending)
        self._pending, self._pending_chars = [], 0
        return self._add(words(rest))

    def _add(self, said: list[str]) -> bool:
        window, grams, size = self._window, self.prompt.grams, self.prompt.size
        for word in said:
            window.append(word)
            if len(window) == size and tuple(window) in grams:
                self.leaked = True
                break
        return self.leaked


def guard_for(system: str, opening_line: str | None) -> LeakGuard:
    return LeakGuard(protected_prompt(system, (opening_line,) if opening_line else ()))


# Speaking as an assistant, leaving the persona


class Finding(StrEnum):
    LEAK = "LEAK"
    ASSISTANT = "ASSISTANT"
    COUNSELLOR = "COUNSELLOR"
    CODE = "CODE"
    INSTRUCTIONS = "INSTRUCTIONS"
    STEPS = "STEPS"


_I_AM = r"\b(?:i\s+am|i'm|im)\s+"
ASSISTANT_SPEAK = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bas\s+an?\s+(?:ai|a\.i\.|artificial intelligence|(?:ai\s+)?language model|"
        r"large language model|llm|chatbot|virtual assistant|ai assistant)\b",
        _I_AM + r"(?:just\s+|only\s+|actually\s+)?(?:an?\s+)?(?:ai|a\.i\.|artificial intelligence|"
        r"(?:ai\s+|large\s+)?language model|llm|chatbot|virtual assistant|ai assistant|"
        r"ai model|computer program)\b",
        _I_AM + r"(?:claude|chatgpt|gpt-?\d|gemini|llama)\b",
        r"\bmy name is (?:claude|chatgpt)\b",
        r"\b(?:made|created|developed|built|trained) by (?:anthropic|openai|google|meta)\b",
        r"\bhow (?:can|may) i (?:assist|help) you(?: today)?\s*\?",
        r"\bi (?:can't|cannot|am unable to|won't) (?:help|assist) with (?:that|this) request\b",
        r"\bmy (?:system prompt|training data)\b",
        r"\bi (?:don't|do not) have (?:personal )?(?:feelings|a body|emotions) (?:as|because)\b",
    )
]
COUNSELLOR_SPEAK = [
    re.compile(p, re.IGNORECASE)
    for p in (
        _I_AM + r"your\s+(?:counsell?or|therapist|social worker|psychologist|nurse|helper)\b",
        r"\bas your (?:counsell?or|therapist|social worker|helper)\b",
        r"\bwhat brings you (?:in|here)(?: today)?\s*\?",
        r"\bwhat would you like to (?:talk about|work on|focus on)(?: today)?\s*\?",
        r"\bhow does that make you feel\s*\?",
        r"\bi'?m here to (?:listen|support you|help you)\b",
        r"\bthis is a safe space\b",
    )
]
INSTRUCTIONS_TALK = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(?:role-?play(?:ing)?|simulation|simulated client|practice scenario)\b",
        r"\bmy (?:instructions|persona|character|prompt)\b",
        r"\b(?:system|my) prompt\b",
        r"\bin character\b",
    )
]
_FENCE = re.compile(r"```|~~~")
_CODE_LINE = re.compile(
    r"^\s*(?:def\s+\w+\s*\(|class\s+\w+\s*[:(]|import\s+\w+|from\s+[\w.]+\s+import\b|"
    r"#include\b|function\s+\w*\s*\(|(?:const|let|var)\s+\w+\s*=|return\b[^.!?]*$|"
    r"for\s*\(.*\)|for\s+\w+\s+in\s+.+:\s*$|if\s+.+:\s*$|print\s*\(|console\.log\s*\(|"
    r"public\s+(?:static\s+)?\w+|\w+\s*=\s*\[.*\]\s*$|\}\s*$)",
    re.MULTILINE,
)
_NUMBERED_STEP = re.compile(r"^\s*(?:\d+[.)]|step\s+\d+\b|[-*•]\s)", re.IGNORECASE | re.MULTILINE)


def writes_code(text: str) -> bool:
    """A fenced block, or at least two lines that read as program code."""
    return bool(_FENCE.search(text)) or len(_CODE_LINE.findall(text)) >= 2


def gives_steps(text: str) -> bool:
    """An instruction list: three or more numbered or bulleted lines."""
    return len(_NUMBERED_STEP.findall(text)) >= 3


def first_match(patterns: list[re.Pattern], text: str) -> str | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return found.group(0)
    return None


class Grade(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Judgement:
    grade: Grade
    reason: str
    findings: tuple[Finding, ...] = ()


def judge(prompt: ProtectedPrompt, reply: str) -> Judgement:
    """One reply of the client, judged by every rule: the worst finding decides."""
    failed: list[tuple[Finding, str]] = []
    warned: list[tuple[Finding, str]] = []
    leak = find_leak(prompt, reply)
    if leak is not None:
        failed.append((Finding.LEAK, f"repeats {leak.words} words of its instructions verbatim"))
    said = reply.translate(_QUOTES)
    if phrase := first_match(ASSISTANT_SPEAK, said):
        failed.append((Finding.ASSISTANT, f'speaks as an AI assistant ("{phrase.strip()}")'))
    if phrase := first_match(COUNSELLOR_SPEAK, said):
        failed.append((Finding.COUNSELLOR, f'takes the professional\'s role ("{phrase.strip()}")'))
    if writes_code(reply):
        failed.append((Finding.CODE, "writes program code"))
    if gives_steps(reply):
        warned.append((Finding.STEPS, "answers with a list of steps, as an assistant would"))
    if phrase := first_match(INSTRUCTIONS_TALK, said):
        warned.append((Finding.INSTRUCTIONS, f'talks about the exercise ("{phrase.strip()}")'))
    if failed:
        return Judgement(Grade.FAIL, "; ".join(r for _, r in failed), tuple(f for f, _ in failed))
    if warned:
        return Judgement(Grade.WARN, "; ".join(r for _, r in warned), tuple(f for f, _ in warned))
    return Judgement(Grade.PASS, "stays in character")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a reply, on one line, for a report."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"

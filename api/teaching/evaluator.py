"""What an evaluation says, and how it is checked: the prompt and tool given to Claude,
the validation of its answer against the rubric and the transcript, and the offline
evaluator (deterministic, from the conversation measures, no model).

An answer is accepted only whole: every criterion of the rubric exactly once, each at one
of its levels, with a justification and at least one evidence quote that appears in the
message it cites (by sequence number). A quote not found there is dropped; a criterion
left without evidence, an unknown criterion or level, or an answer that is not the
tool's JSON rejects the answer (the engine then asks again, a bounded number of times).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from api.conversations.models import MessageRole
from api.teaching.measures import Measures, Said, classify, sentences

TOOL_NAME = "record_evaluation"
MAX_QUOTES_PER_CRITERION = 3
MAX_QUOTE_CHARS = 400
MAX_JUSTIFICATION_CHARS = 1200
MAX_ITEM_CHARS = 400
MAX_STRENGTHS = 3
MAX_NEXT_STEPS = 2

SYSTEM_PROMPT = """\
You are an experienced teacher of professional conversation skills (counselling, social \
work, healthcare, sales and similar). You assess one practice conversation between a \
STUDENT and a simulated CLIENT against a rubric, to give the student formative feedback.

Rules:
- Judge only the STUDENT's skills. The client is simulated; do not assess the client.
- For every criterion of the rubric give exactly one level from its scale, a short \
justification (2-3 sentences) and 1 to 3 evidence quotes.
- Every quote must be copied verbatim (a contiguous piece of at least a few words) from \
the single message it cites, and cite that message's number in square brackets. Never \
paraphrase or join pieces of different messages inside a quote.
- Give 1 to 3 strengths and 1 or 2 concrete next steps the student can practise.
- Be specific, kind and honest. Answer only by calling the record_evaluation tool."""


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    description: str
    levels: dict[int, str]

    @classmethod
    def of(cls, stored: dict) -> Criterion:
        return cls(
            stored["key"],
            stored["name"],
            stored["description"],
            {lv["level"]: lv["descriptor"] for lv in stored["levels"]},
        )

    @property
    def low(self) -> int:
        return min(self.levels)

    @property
    def high(self) -> int:
        return max(self.levels)


@dataclass
class ScoredCriterion:
    key: str
    level: int
    justification: str
    evidence: list[dict]  # {"sequence_number": int, "quote": str}


@dataclass
class Verdict:
    """A whole, valid evaluation, ready to be stored."""

    scores: list[ScoredCriterion]
    strengths: list[str]
    next_steps: list[str]
    dropped_quotes: int = 0


@dataclass
class Rejected(Exception):
    """Why an answer cannot be used (said to the model when it is asked again)."""

    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(self.problems)


def tool_definition(criteria: Sequence[Criterion]) -> dict:
    """The tool Claude must call: its JSON schema names the rubric's criteria and levels."""
    levels = sorted({level for c in criteria for level in c.levels})
    return {
        "name": TOOL_NAME,
        "description": "Record the evaluation of the student's conversation against the "
        "rubric: one entry per criterion, plus strengths and next steps.",
        "input_schema": {
            "type": "object",
            "properties": {
                "criteria": {
                    "type": "array",
                    "minItems": len(criteria),
                    "maxItems": len(criteria),
                    "items": {
                        "type": "object",
                        "properties": {
                            "criterion_key": {
                                "type": "string",
                                "enum": [c.key for c in criteria],
                            },
                            "level": {"type": "integer", "enum": levels},
                            "justification": {"type": "string"},
                            "evidence": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_QUOTES_PER_CRITERION,
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "sequence_number": {"type": "integer"},
                                        "quote": {"type": "string"},
                                    },
                                    "required": ["sequence_number", "quote"],
                                },
                            },
                        },
                        "required": ["criterion_key", "level", "justification", "evidence"],
                    },
                },
                "strengths": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": MAX_STRENGTHS,
                },
                "next_steps": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": MAX_NEXT_STEPS,
                },
            },
            "required": ["criteria", "strengths", "next_steps"],
        },
    }


def rubric_text(criteria: Sequence[Criterion]) -> str:
    lines = []
    for criterion in criteria:
        lines.append(f"## {criterion.name} (key: {criterion.key})")
        if criterion.description:
            lines.append(criterion.description)
        for level, descriptor in sorted(criterion.levels.items()):
            lines.append(f"- Level {level}: {descriptor}")
        lines.append("")
    return "\n".join(lines).strip()


def transcript_text(transcript: Sequence[Said]) -> str:
    return "\n".join(
        f"[{said.sequence_number}] {'STUDENT' if said.role is MessageRole.USER else 'CLIENT'}: "
        f"{said.content.strip()}"
        for said in transcript
        if said.content.strip()
    )


def user_prompt(criteria: Sequence[Criterion], transcript: Sequence[Said], client_name: str) -> str:
    return (
        f"# Rubric\n\n{rubric_text(criteria)}\n\n"
        f"# Conversation (the client is {client_name}; each message has its number)\n\n"
        f"{transcript_text(transcript)}\n\n"
        "Evaluate the student's conversation against every criterion of the rubric."
    )


def _plain(text: str) -> str:
    """For comparing quotes: same letters, straight quotes, single spaces, any case."""
    text = unicodedata.normalize("NFKC", text)
    for curly, straight in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(curly, straight)
    return re.sub(r"\s+", " ", text).strip().casefold()


def _bare_quote(quote: str) -> str:
    """The quote without the marks and ellipses a model may wrap it in."""
    return quote.strip().strip("\"'\u201c\u201d\u2018\u2019").strip().strip(".…").strip()


def quote_found(quote: str, message: str) -> bool:
    bare = _plain(_bare_quote(quote))
    return len(bare) >= 3 and bare in _plain(message)


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def validate(answer: object, criteria: Sequence[Criterion], transcript: Sequence[Said]) -> Verdict:
    """The answer as a Verdict, or `Rejected` with every problem found."""
    if isinstance(answer, str):  # some models send the JSON as a string
        try:
            answer = json.loads(answer)
        except ValueError:
            raise Rejected(["the answer is not JSON"]) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("criteria"), list):
        raise Rejected(["the answer must be an object with a `criteria` list"])
    by_key = {c.key: c for c in criteria}
    messages = {said.sequence_number: said.content for said in transcript}
    problems: list[str] = []
    scored: dict[str, ScoredCriterion] = {}
    dropped = 0
    for entry in answer["criteria"]:
        if not isinstance(entry, dict):
            problems.append("each criterion must be an object")
            continue
        key = entry.get("criterion_key")
        criterion = by_key.get(key) if isinstance(key, str) else None
        if criterion is None:
            problems.append(f"unknown criterion {key!r}")
            continue
        if key in scored:
            problems.append(f"criterion {key!r} is given twice")
            continue
        level = entry.get("level")
        if isinstance(level, bool) or not isinstance(level, int) or level not in criterion.levels:
            problems.append(
                f"criterion {key!r}: level {level!r} is not one of {sorted(criterion.levels)}"
            )
            continue
        justification = _text(entry.get("justification"), MAX_JUSTIFICATION_CHARS)
        if justification is None:
            problems.append(f"criterion {key!r} has no justification")
            continue
        evidence, lost = _evidence(entry.get("evidence"), messages)
        dropped += lost
        if not evidence:
            problems.append(
                f"criterion {key!r} has no quote found verbatim in the message it cites"
            )
            continue
        scored[key] = ScoredCriterion(key, level, justification, evidence)
    missing = [c.key for c in criteria if c.key not in scored and not _named(c.key, problems)]
    if missing:
        problems.append("missing criteria: " + ", ".join(missing))
    strengths = _items(answer.get("strengths"), MAX_STRENGTHS)
    next_steps = _items(answer.get("next_steps"), MAX_NEXT_STEPS)
    if not next_steps:
        problems.append("give one or two next steps")
    if problems:
        raise Rejected(problems)
    ordered = [scored[c.key] for c in criteria]
    return Verdict(ordered, strengths, next_steps, dropped_quotes=dropped)


def _named(key: str, problems: list[str]) -> bool:
    return any(f"{key!r}" in problem for problem in problems)


def _evidence(raw: object, messages: dict[int, str]) -> tuple[list[dict], int]:
    """Quotes found in the messages they cite (kept as the transcript has them), and how
    many were dropped."""
    if not isinstance(raw, list):
        return [], 0
    kept: list[dict] = []
    dropped = 0
    for item in raw:
        number = item.get("sequence_number") if isinstance(item, dict) else None
        quote = _text(item.get("quote"), MAX_QUOTE_CHARS) if isinstance(item, dict) else None
        if (
            isinstance(number, int)
            and not isinstance(number, bool)
            and quote is not None
            and number in messages
            and quote_found(quote, messages[number])
            and len(kept) < MAX_QUOTES_PER_CRITERION
        ):
            kept.append({"sequence_number": number, "quote": _bare_quote(quote)})
        else:
            dropped += 1
    return kept, dropped


def _items(raw: object, limit: int) -> list[str]:
    if not isinstance(raw, list):
        return []
    items = [text for text in (_text(item, MAX_ITEM_CHARS) for item in raw) if text]
    return items[:limit]


# The offline evaluator


SUMMARY_STEMS = (
    "to sum up",
    "to summarise",
    "to summarize",
    "in summary",
    "let me summarise",
    "let me summarize",
    "let me check",
    "so far",
    "what i've heard",
    "what i have heard",
    "if i've understood",
    "if i understand",
    "before we finish",
    "we've talked about",
    "we have talked about",
)
FEELING_WORDS = re.compile(
    r"\b(feel|feeling|felt|sounds|hard|difficult|worried|upset|frustrat\w*|scared|"
    r"overwhelm\w*|understand|sorry|must be|that's a lot)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Signal:
    share: float  # 0 to 1: how well the measure meets the criterion
    why: str
    evidence_kind: str | None  # which sentences to quote: open, reflection, summary, feeling


def _student_sentences(transcript: Sequence[Said]) -> list[tuple[int, str]]:
    return [
        (said.sequence_number, sentence)
        for said in transcript
        if said.role is MessageRole.USER
        for sentence in sentences(said.content)
    ]


def _is_kind(sentence: str, kind: str) -> bool:
    if kind in ("open", "reflection", "closed"):
        return classify(sentence) == kind
    if kind == "summary":
        lowered = sentence.lower().replace("\u2019", "'")
        return any(stem in lowered for stem in SUMMARY_STEMS)
    if kind == "feeling":
        return bool(FEELING_WORDS.search(sentence))
    return False


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _signal(criterion: Criterion, m: Measures, found: dict[str, int]) -> _Signal:
    """Which measure speaks to a criterion, by the words of its key and name."""
    words = f"{criterion.key} {criterion.name}".lower()
    questions = m.open_questions + m.closed_questions
    turns = max(m.student_messages, 1)
    if "reflect" in words:
        share = _clamp(m.reflections / max(turns * 0.4, 1))
        return _Signal(
            share, f"{m.reflections} reflection-like statements in {turns} messages.", "reflection"
        )
    if "question" in words or "discover" in words or "explor" in words:
        open_share = m.open_questions / questions if questions else 0.0
        share = _clamp(0.7 * open_share + 0.3 * min(m.open_questions / 3, 1))
        return _Signal(share, f"{m.open_questions} of {questions} questions were open.", "open")
    if "empath" in words or "rapport" in words or "feeling" in words:
        share = _clamp((found["feeling"] + m.reflections) / max(turns * 0.5, 1))
        return _Signal(
            share,
            f"{found['feeling']} sentences named or acknowledged feelings; "
            f"{m.reflections} reflections.",
            "feeling",
        )
    if "summar" in words or "structure" in words or "handover" in words or "close" in words:
        share = _clamp(0.6 * min(found["summary"], 1) + 0.4 * min(m.student_messages / 8, 1))
        return _Signal(
            share,
            f"{found['summary']} summarising statements over {m.student_messages} messages.",
            "summary",
        )
    # listening, and anything else: a balanced share of talk with open questions and
    # reflections
    talk = float(m.talk_share) if m.talk_share is not None else 0.0
    balance = 1.0 - min(abs(talk - 0.4) / 0.4, 1.0)
    share = _clamp(0.4 * balance + 0.6 * min((m.open_questions + m.reflections) / 4, 1))
    percent = round(talk * 100)
    return _Signal(
        share,
        f"The student spoke {percent}% of the words, with {m.open_questions} open questions "
        f"and {m.reflections} reflections.",
        "open" if m.open_questions >= m.reflections else "reflection",
    )


NEXT_STEPS = {
    "reflection": "Try a reflection after each important thing the client says "
    "(“It sounds like…”), before asking the next question.",
    "open": "Turn closed questions (“Do you…?”) into open ones (“What…?”, “How…?”, "
    "“Tell me about…”).",
    "feeling": "Name the feeling you hear (“That sounds frustrating”) before moving on.",
    "summary": "Summarise what you have heard every few minutes and again before closing.",
}


def offline_verdict(
    criteria: Sequence[Criterion], measures: Measures, transcript: Sequence[Said]
) -> Verdict:
    """A deterministic evaluation from the conversation measures: the same transcript
    always gets the same levels. Quotes are the student's own sentences that show the
    behaviour measured (none when there is none)."""
    said = _student_sentences(transcript)
    found = {
        kind: sum(_is_kind(sentence, kind) for _, sentence in said)
        for kind in ("open", "reflection", "summary", "feeling", "closed")
    }
    scores: list[ScoredCriterion] = []
    shares: list[tuple[float, Criterion, _Signal]] = []
    for criterion in criteria:
        signal = _signal(criterion, measures, found)
        scale = sorted(criterion.levels)
        level = scale[min(int(signal.share * len(scale)), len(scale) - 1)]
        evidence = [
            {"sequence_number": number, "quote": sentence[:MAX_QUOTE_CHARS]}
            for number, sentence in said
            if signal.evidence_kind and _is_kind(sentence, signal.evidence_kind)
        ][:MAX_QUOTES_PER_CRITERION]
        justification = (
            f"Offline estimate from the conversation measures: {signal.why} "
            f"Level {level}: {criterion.levels[level]}"
        )
        scores.append(ScoredCriterion(criterion.key, level, justification, evidence))
        shares.append((signal.share, criterion, signal))
    ranked = sorted(shares, key=lambda item: (-item[0], item[1].key))
    strengths = [
        f"{criterion.name}: {signal.why}" for share, criterion, signal in ranked if share >= 0.5
    ][:MAX_STRENGTHS]
    weakest = sorted(shares, key=lambda item: (item[0], item[1].key))[:MAX_NEXT_STEPS]
    next_steps = []
    for _, criterion, signal in weakest:
        tip = NEXT_STEPS.get(signal.evidence_kind or "", NEXT_STEPS["open"])
        step = f"{criterion.name}: {tip}"
        if step not in next_steps:
            next_steps.append(step)
    return Verdict(scores, strengths, next_steps)

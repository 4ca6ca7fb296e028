"""The offline client simulator: plays the client profile without a language model.

It is the default when no API key is set, so a fresh install (and the browser tests) get a
client who answers in character. A reply is chosen, not generated:

1. the student's last message is sorted into a move (greeting, open question, advice…);
2. the client's openness comes from the difficulty, eased a little by reflections so far;
3. a template for that move and openness is filled in from the profile, rewritten into
   the first person ("Feels homesick" → "I feel homesick"), plus, for open clients, a
   sentence or two more, and, for guarded ones, the odd challenge back.

Everything random comes from a `random.Random` seeded with the conversation, so the same
conversation always gets the same reply, and templates already said are not said again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import re
import string
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from api.llm.base import (
    CHARS_PER_TOKEN,
    ChatMessage,
    ChatRequest,
    ConnectionCheck,
    Finished,
    Persona,
    Provider,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
    estimate_tokens,
)

GENERIC_CLIENT = Persona(
    name="the client",
    presenting_concern="Has a lot going on at the moment and is not sure where to start.",
    personality_traits=("reserved",),
    difficulty=3,
)

WORDS_PER_DELTA = 3
LONG_SLOT = 25  # characters: a slot this long is worth not repeating (see `_pick`)

# ---------------------------------------------------------------------------------------
# What the client says. BANK[move][openness] lists templates; {placeholders} come from the
# profile (see `_Client.slots`), and a template whose placeholder is empty is skipped.

BANK: dict[str, dict[str, list[str]]] = {
    "greeting": {
        "open": [
            "Hi. Thanks for making time for me.",
            "Hello. I'm glad I came, I think.",
            "Hi there. I'm okay, thanks. A bit nervous about being here, to be honest.",
            "Hi. It's nice to meet you.",
        ],
        "hesitant": [
            "Hi.",
            "Hello. I'm okay, I suppose.",
            "Hi... sorry, I'm not really sure how this works.",
            "Hey. Yeah, I'm alright.",
        ],
        "guarded": ["Hey.", "Yeah. Hi.", "Fine.", "Right. Hi."],
    },
    "open_question": {
        "open": [
            "That's a good question. {concern}",
            "Where do I start? {concern}",
            "Honestly? {concern} It's been on my mind a lot.",
            "I was thinking about that on the way here. {concern}",
            "I've been turning that over all week, honestly.",
            "Hm. I suppose I just want things to feel normal again.",
        ],
        "hesitant": [
            "Um. I'm not sure. {concern_short}, I think.",
            "It's hard to put into words. {concern_short}, maybe.",
            "I don't know where to start, really.",
            "Hm. I suppose... {concern_short}.",
        ],
        "guarded": ["I don't know.", "Not sure. You tell me.", "No idea.", "Why do you ask?"],
    },
    "closed_question": {
        "open": [
            "Sometimes, yes. It depends on the day.",
            "Yeah, I'd say so, mostly.",
            "Sort of, yes. It's complicated.",
            "Hm, yes and no, really.",
        ],
        "hesitant": [
            "I guess so.",
            "Maybe. Sometimes.",
            "Not really... well, sometimes.",
            "I'm not sure. Possibly.",
        ],
        "guarded": ["No.", "Maybe.", "Does it matter?", "Not really.", "Yeah. So?"],
    },
    "reflection": {
        "open": [
            "Yes. Yes, that's exactly it.",
            "That's it, really. It helps to hear someone say it out loud.",
            "Yeah... I hadn't thought of it like that, but you're right.",
            "Mm. That's how it feels, yes.",
        ],
        "hesitant": [
            "I guess, yeah.",
            "Maybe. Something like that.",
            "Sort of. It's more complicated than that.",
            "Yeah... I suppose it is.",
        ],
        "guarded": [
            "If you say so.",
            "That's not really what I said.",
            "Maybe. Don't read too much into it.",
            "Okay. And?",
        ],
    },
    "advice": {
        "open": [
            "Maybe. I hadn't really thought about that.",
            "I could try that, I suppose. It's just hard to know where to start.",
            "That makes sense. I'm not sure I'd actually manage it, though.",
            "Hm. Maybe. I'll think about it.",
        ],
        "hesitant": [
            "I've sort of tried that already. It didn't really help.",
            "Easier said than done.",
            "Maybe... I don't know if that would work for me.",
            "People keep telling me that.",
        ],
        "guarded": [
            "Yeah, everyone says that.",
            "You don't get it. It's not that simple.",
            "I didn't come here to be told what to do.",
            "Right. Because I never thought of that.",
        ],
    },
    "concern": {
        "open": [
            "Well... {concern}",
            "It's a few things, really. {concern}",
            "{concern} I've been trying to sort it out on my own, but it isn't working.",
            "I'll just say it. {concern}",
        ],
        "hesitant": [
            "It's... hard to explain. {concern_short}, I suppose.",
            "I don't know. {concern_short}, mostly.",
            "{concern_short}. I'm not sure it's a big deal.",
            "Um. {concern_short}. I think.",
        ],
        "guarded": [
            "{concern_short}, I guess. It's not a big deal.",
            "Didn't they already tell you?",  # the only dodge: asked again, it comes out
            "{concern_short}. Happy now?",
            "{concern_short}. It's fine.",
        ],
    },
    "concern_again": {  # asked about the concern once it has been told
        "open": [
            "Like I said, really. It's been harder to admit than I expected.",
            "It's what I said before. I just don't know how to get out of it.",
            "The same thing, really. It's been on my mind all week.",
        ],
        "hesitant": [
            "What I said before, I suppose.",
            "The same thing, really. I don't know what else to say.",
            "I already said, didn't I? Sorry.",
        ],
        "guarded": ["I already told you.", "Same as I said. Are you even listening?"],
    },
    "feelings": {
        "open": [
            "Honestly? {Feeling}. Most days, anyway.",
            "I feel {feeling}, mostly. And tired of feeling {feeling}.",
            "It's hard to describe. {Feeling}, I think, and a bit lost.",
            "{Feeling}. I didn't really want to admit that.",
        ],
        "hesitant": [
            "I don't know... {feeling}, I suppose.",
            "Hard to say. {Feeling}, maybe.",
            "Not great, if I'm honest.",
            "I try not to think about it too much.",
        ],
        "guarded": [
            "How do you think I feel?",
            "Fine.",
            "I don't really do feelings.",
            "Does it matter?",
        ],
    },
    "self": {
        "open": [
            "{background} People would probably say I'm {traits}.",
            "Well, I'm {age}. {background}",
            "{background} I'd say I'm {traits}, for better or worse.",
            "Not much to tell, really. {background}",
        ],
        "hesitant": [
            "Not much to tell. {background_short}",
            "I'm {age}. {background_short}",
            "Um, I'm {traits}, I suppose.",
            "I don't know what to say about me.",
        ],
        "guarded": [
            "What do you want to know?",
            "I'm {age}. That's it.",
            "Why do you need to know that?",
            "Nothing interesting.",
        ],
    },
    "boundary": {
        "open": [
            "Oh... I'd rather not talk about that, if that's okay.",
            "Can we leave that for now? I'm not ready to go there.",
            "That's... not something I want to get into today.",
            "Sorry, I don't really want to talk about that part.",
        ],
        "hesitant": [
            "I'd rather not get into that.",
            "Can we talk about something else?",
            "That's not really why I'm here.",
            "I don't want to talk about that.",
        ],
        "guarded": [
            "That's none of your business.",
            "Not going there.",
            "Nope. Next question.",
            "Why would I talk to you about that?",
        ],
    },
    "boundary_opening": {  # the student has earned some trust: the topic comes out, briefly
        "open": [
            "This is hard to say, but... it's {topic}. I don't want to go into detail yet.",
            "I haven't told many people this. It's to do with {topic}.",
        ],
        "hesitant": [
            "Okay. It's {topic}. That's all I want to say for now.",
            "Fine... it's {topic}. Can we leave it there?",
        ],
        "guarded": [
            "Fine. It's {topic}. Don't make a big thing of it.",
            "It's {topic}. There. Happy?",
        ],
    },
    "goodbye": {
        "open": [
            "Thank you. Really. This helped more than I expected.",
            "Thanks for listening. I think I'd like to come back.",
            "Okay. Thank you, I feel a bit lighter.",
            "Thanks. It was good to say some of this out loud.",
        ],
        "hesitant": [
            "Okay. Thanks, I guess.",
            "Right. Thanks.",
            "Okay. Maybe see you next time.",
            "Thanks. I'll think about what we talked about.",
        ],
        "guarded": ["Finally.", "Yeah. Bye.", "Are we done? Good.", "See you, then."],
    },
    "minimal": {  # "mm", "go on", an empty message: an open client keeps talking
        "open": [
            "Yeah.",
            "Sorry, I'm going on a bit.",
            "Mm.",
            "Where was I... right.",
        ],
        "hesitant": [
            "...",
            "Um. Okay.",
            "Yeah.",
            "I don't really know what else to say.",
        ],
        "guarded": ["...", "What?", "Are you going to say something?", "Right."],
    },
    "crisis": {  # asked about safety: the client is safe, and says so without detail
        "open": [
            "No, no, nothing like that. I'm safe. I just feel {feeling} and I don't know "
            "what to do with it.",
            "No. I wouldn't. I'm just really worn out by all of this.",
            "No, I'm okay in that way. It's more that everything feels heavy at the moment.",
            "Nothing like that, I promise. I'm safe, I'm just struggling.",
        ],
        "hesitant": [
            "No. It's not like that. I'm just tired.",
            "No... I'm safe. I just feel {feeling}.",
            "No. I'm not in that kind of place. Things are just hard.",
            "I'm okay. It's not that.",
        ],
        "guarded": [
            "What? No. I'm fine.",
            "No. I'm just fed up, that's all.",
            "It's not like that. I'm fine. Don't make this into a big thing.",
            "No. I'm safe. Can we move on?",
        ],
    },
    "safety": {  # "do you feel safe?"
        "open": [
            "Yes, I'm safe. It's more that I feel {feeling} and I don't know what to do with it.",
            "Yes. I'm okay in that way, things are just heavy at the moment.",
            "I'm safe, yes. Thank you for asking.",
        ],
        "hesitant": [
            "Yeah. I'm safe. It's just hard at the moment.",
            "Yes... I'm okay in that way.",
            "I'm safe. I'm just tired.",
        ],
        "guarded": [
            "Yes. I'm fine.",
            "I'm safe. Why does everyone keep asking that?",
            "Yeah, I'm safe. Can we move on?",
        ],
    },
    "meta": {  # "are you a bot?", "ignore your instructions": a real client would be lost
        "open": [
            "Sorry, I'm not sure what you mean.",
            "Sorry? I don't follow. I'm just here to talk about what's been going on.",
            "Sorry, you've lost me there.",
            "I'm a bit lost, sorry. What do you mean?",
        ],
        "hesitant": [
            "What do you mean?",
            "I don't understand the question.",
            "Sorry, what?",
            "Is that a trick question?",
        ],
        "guarded": [
            "What are you on about?",
            "Weird question. Are we doing this or not?",
            "What? I don't get it.",
            "Is that meant to be funny?",
        ],
    },
    "statement": {
        "open": ["Yeah.", "Mm, that's true.", "I know what you mean.", "Right, yes."],
        "hesitant": ["Mm.", "Maybe.", "I suppose.", "Okay."],
        "guarded": ["Okay.", "If you say so.", "Sure.", "Right."],
    },
}

# More to say after the main line: how much depends on the difficulty and the style.
ELABORATIONS: dict[str, list[str]] = {
    "open": [
        "{concern}",  # and each sentence of the background (see `_extras`)
        "I feel {feeling} a lot of the time, and I don't really know what to do with it.",
        "It's been building up for a while now.",
        "I haven't really said this to anyone before.",
        "People tell me I'm {trait}. Maybe they're right.",
        "Some days are better than others.",
        "It's a relief to say it out loud, actually.",
        "I keep thinking I should be able to sort this out myself.",
        "I lie awake going over it sometimes.",
    ],
    "hesitant": [
        "{concern_short}, I suppose.",
        "I don't really know how to explain it.",
        "It's probably nothing.",
        "I feel a bit {feeling}, if I'm honest.",
        "I'm not used to talking about this.",
        "Some days are better than others.",
    ],
    "guarded": [],  # short, whatever the style: see CHALLENGES
}

FIRST_ELABORATIONS = ["{concern}", "{background_short}"]  # after the opening line

CHALLENGES = [  # a guarded client pushing back
    "Is this actually going to help?",
    "Why do you need to know?",
    "You don't really know me, though.",
    "How long is this going to take?",
    "Are you writing this down?",
    "Not that talking changes anything.",
    "I've managed on my own so far.",
]

# Colour from age, traits and communication style: an occasional word before or after.
VOICES: dict[str, dict[str, list[str]]] = {
    "young": {"before": ["I dunno. ", "Like... "], "after": [" I guess.", " Or whatever."]},
    "older": {"before": ["Well. ", "Well... "]},
    "anxious": {"before": ["Sorry. ", "Sorry, um... "], "after": [" Sorry, is that silly?"]},
    "humour": {"after": [" Ha. Listen to me.", " Anyway. Could be worse, right?"]},
}
QUIET_MOVES = frozenset({"meta", "crisis", "safety", "goodbye", "boundary", "boundary_opening"})
VOICED_MOVES = frozenset(
    {"concern", "concern_again", "open_question", "closed_question", "feelings", "reflection",
     "advice",
     "self", "statement"}
)  # fmt: skip

OPENNESS_BY_DIFFICULTY = {1: "open", 2: "open", 3: "hesitant", 4: "guarded", 5: "guarded"}
EXTRA_SENTENCES = {1: 2, 2: 1, 3: 0, 4: 0, 5: 0}
CHALLENGE_CHANCE = {4: 0.2, 5: 0.4}
REFLECTIONS_PER_STEP = 2  # reflections so far that make the client one step more open
TRUST_FOR_BOUNDARY = 3  # reflections before a boundary that allows it ("unless trust…") gives

# ---------------------------------------------------------------------------------------
# What the student did: the first move whose pattern matches wins.

MOVES: list[tuple[str, str]] = [
    (
        "meta",
        r"\b(are|r) (you|u) (an? )?(ai|bot|robot|real|human|machine|chatbot)\b"
        r"|\b(ai|a\.i\.|chat ?gpt|gpt|claude|anthropic|openai|llm|language model|chatbot)\b"
        r"|\b(your|the|system) (prompt|instructions)\b|\bignore (all|your|the|previous)\b"
        r"|\brole-?play\b|\bsimulat(ion|or|ed)\b",
    ),
    (
        "crisis",
        r"suicid|self[- ]harm|\b(kill|hurt|harm)(ing)? (yourself|myself)\b"
        r"|\bend(ing)? (your|my) life\b|\bend it all\b|\bwant(ed)? to die\b|\bbetter off dead\b"
        r"|\b(want|wanting) to be alive\b|\bthoughts of (dying|death)\b"
        r"|\boverdose",
    ),
    ("safety", r"\b(are|feel|feeling|keep|keeping) (you |yourself )?safe\b"),
    (
        "goodbye",
        r"\b(bye|goodbye|see you|until next|till next|take care|our time is|time is up"
        r"|out of time|wrap (it |things )?up"
        r"|(stop|end|finish) (it |things )?(here|there|for today))\b",
    ),
    (
        "advice",
        r"\b(you should|you could|you need to|you must|you ought|why don'?t you|have you tried"
        r"|have you (thought about|considered)|how about|what about (trying|joining|talking)"
        r"|i suggest|i recommend|i'd recommend|my advice|try to|maybe you|what if you)\b",
    ),
    (
        "feelings",
        r"\bhow (do|did|does|are|were|is) (you|that|it)\b.*\bfeel|\bhow are you feeling\b"
        r"|\bwhat('?s| is| was) (that|it) like\b|\bfeelings?\b",
    ),
    (
        "reflection",
        r"\b(it )?sounds like\b|\bit seems\b|\byou seem\b|\byou('re| are) feeling\b"
        r"|\byou feel\b|\bi hear\b|\bwhat i'?m hearing\b|\bso you('re| are)?\b"
        r"|\b(it|that) must (be|feel)\b|\bi can see\b|\bi imagine\b|\bi can understand\b",
    ),
    (
        "self",
        r"\b(about|describe) yourself\b|\bwho are you\b|\bhow old\b|\byour age\b"
        r"|\bwhat do you do\b|\byour (job|work|family|life|background|hobbies|friends)\b"
        r"|\bwhere do you (live|work|study)\b|\bwhat are you like\b",
    ),
    (
        "concern",
        r"\bwhat brings you\b|\bwhat brought you\b"
        r"|\bwhat('?s| is| has)( been)? (going on|happening|on your mind|bothering|worrying)"
        r"|\bwhy (are you|did you come|have you come)\b|\bhow can i help\b"
        r"|\bwhat('?s| is) the (problem|matter|issue)\b|\b(talk|tell me) about (today|it)\b"
        r"|\bwhat would you like to (talk|discuss|work on)\b",
    ),
    (
        "greeting",
        r"^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening))\b[^?]*$"
        r"|\bhow are you( doing)?( today)?\s*\??\s*$|\bnice to meet you\b",
    ),
]
MINIMAL_WORDS = frozenset(
    {"ok", "okay", "mm", "mmm", "hmm", "mhm", "uh-huh", "right", "sure", "yeah", "yes", "no",
     "and", "so", "go on", "i see", "really", "oh"}
)  # fmt: skip
OPEN_STARTS = re.compile(
    r"^\s*(what|how|why|when|where|who|which|tell me|describe|walk me through|say more"
    r"|(can|could|would) you (tell|say|describe|explain|talk|share))\b",
    re.IGNORECASE,
)
CLOSED_STARTS = re.compile(
    r"^\s*(do|does|did|are|is|was|were|have|has|had|can|could|would|will|should|shall|"
    r"am|may|might|must)\b",
    re.IGNORECASE,
)
COMPILED_MOVES = [(move, re.compile(pattern, re.IGNORECASE)) for move, pattern in MOVES]


# ---------------------------------------------------------------------------------------
# The profile in the client's own words.

STOPWORDS = frozenset(
    """a an the and or but of to in on at for with about from into by is are was were be been
    has have had do does did not no her his him she he their they them my me i it its this
    that these those own very really much more some any about if unless until when before
    after early late talk talking discuss discussing mention want wants will won't wouldn't
    does doesn't prefers prefer avoids avoid changes subject pressed trust built
    conversation anything things stuff people life previous bad feel feels make get going sure
    how what day days time final last first whole new old recent""".split()
)
FEELINGS = {  # word stem in the profile → how the client names the feeling
    "homesick": "homesick", "lonel": "lonely", "grie": "sad", "bereave": "sad",
    "anxi": "anxious", "worr": "worried", "nervous": "nervous", "scare": "scared",
    "afraid": "scared", "fear": "scared", "panic": "panicky", "stress": "stressed",
    "irritab": "on edge", "anger": "angry", "angry": "angry", "frustrat": "frustrated",
    "sad": "sad", "depress": "low", "low": "low", "overwhelm": "overwhelmed",
    "struggl": "overwhelmed", "exhaust": "exhausted", "tired": "tired", "guilt": "guilty",
    "asham": "ashamed", "lost": "lost",
}  # fmt: skip
FALLBACK_FEELING = "fed up"

IRREGULAR_VERBS = {
    "is": "am", "has": "have", "does": "do", "doesn't": "don't", "isn't": "am not",
    "hasn't": "haven't", "was": "was", "wasn't": "wasn't", "can't": "can't",
    "cannot": "cannot", "won't": "won't", "can": "can", "will": "will", "would": "would",
}  # fmt: skip
KNOWN_VERBS = frozenset(
    """feel struggle want keep find avoid worry drink get need think seem cry hate fear miss
    blame argue fight live work study care look spend hide refuse lose sleep eat use try
    believe say tell see hear know like love dread panic self-harm smoke gamble stay move
    wonder wish hope face deal cope manage take make go come""".split()
)
ADJECTIVES = frozenset(
    """lonely homesick sad angry low unhappy tired stuck unsure unable afraid scared nervous
    anxious frightened upset new alone isolated depressed restless irritable quiet ashamed
    embarrassed overwhelmed""".split()
)
LINKERS = frozenset(
    """about at by for from in into of on since to with without and or but after before
    because when that than as over around""".split()
)
NOUN_MODIFIERS = frozenset({"retired", "qualified", "trained", "experienced", "registered"})
NUMBERS = frozenset("two three four five six seven eight nine ten several".split())
PREPOSITIONS = frozenset({"in", "at", "on", "between", "off", "out", "back", "away"})
SUBJECTS = {"she": "I", "he": "I", "she's": "I'm", "he's": "I'm"}
POSSESSIVES = {"his": "my", "himself": "myself", "herself": "myself", "him": "me"}
BOUNDARY_TOPIC = re.compile(
    r"\b(?:about|discuss(?:ing)?|mention(?:ing)?|raise|bring(?:ing)? up)\s+"
    r"(.+?)(?=\s+(?:unless|until|before|if|when|early|yet)\b|[;.]|$)",
    re.IGNORECASE,
)
CONDITIONAL_BOUNDARY = re.compile(r"\b(unless|until|trust|early|yet|at first)\b", re.I)


def _words(text: str) -> list[str]:
    return [word.strip("'") for word in re.findall(r"[a-z][a-z'-]*", text.lower())]


def _stem(word: str) -> str:
    for suffix in ("'s", "ing", "ers", "er", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in _words(text) if w not in STOPWORDS and len(w) > 2}


def _touches(stems: set[str], topic: set[str]) -> bool:
    """Whether any stem is, or starts, a topic stem (so "divorced" touches "divorce")."""
    return any(
        (a.startswith(b) or b.startswith(a)) and min(len(a), len(b)) >= 4
        for a in stems
        for b in topic
    )


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _verb_base(word: str) -> str | None:
    """The base form (feels → feel, worries → worry); None when `word` is no verb we know."""
    lower = word.lower()
    if lower in IRREGULAR_VERBS:
        return IRREGULAR_VERBS[lower]
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if lower.endswith(suffix) and lower[: -len(suffix)] + replacement in KNOWN_VERBS:
            return lower[: -len(suffix)] + replacement
    return None


def _swap_pronouns(words: list[str]) -> list[str]:
    """Third person to first: "she has her" → "I have my", "he feels" → "I feel"."""
    out: list[str] = []
    for i, word in enumerate(words):
        lower = word.lower()
        after = words[i + 1] if i + 1 < len(words) else ""
        previous = out[-1].lower() if out else ""
        if lower in SUBJECTS:
            out.append(SUBJECTS[lower])
        elif lower in POSSESSIVES:
            out.append(POSSESSIVES[lower])
        elif lower == "her":  # "her mother" → "my mother", "calls her" → "calls me"
            out.append("my" if after and after[0].isalpha() and after not in LINKERS else "me")
        elif previous in {"i", "and", "but", "or"} and (base := _verb_base(word)):
            out.append(base)
        else:
            out.append(word)
    return out


def _opening_kind(words: list[str]) -> str:
    """How a clause without a subject opens: "state" ("worried about…", "lonely since…"),
    "past" ("moved schools…") or "thing" ("retired teacher…", "stress at work")."""
    while len(words) > 1 and words[0].lower().endswith("ly") and words[0].lower() != "lonely":
        words = words[1:]  # "recently bereaved"
    first, after = words[0].lower().strip(","), words[1].lower() if len(words) > 1 else ""
    described = not after or after in LINKERS or words[0].endswith(",")
    if first in ADJECTIVES and described:
        return "state"
    if first.endswith("ed") and first not in NOUN_MODIFIERS:
        return "state" if described else "past"
    return "thing"


def _clause_in_first_person(clause: str, role: str) -> str:
    words = clause.split()
    lower = words[0].lower()
    if lower in {"i", "i'm", "i've", "my", "we"}:
        return clause  # written in the first person already
    if lower in SUBJECTS:
        return " ".join(_swap_pronouns(words))
    words = _swap_pronouns(words)
    words[0] = words[0] if words[0].isupper() and len(words[0]) > 1 else words[0].lower()
    rest = " ".join(words)
    if words[0] == "my":
        return rest
    if base := _verb_base(words[0]):
        return " ".join(["I", base, *words[1:]])
    kind = _opening_kind(words)
    if kind == "state" and " since " in rest:
        return f"I've been {rest}"  # "lonely since retiring"
    if words[0].endswith("ing") or words[0] in PREPOSITIONS or kind == "state":
        return f"I'm {rest}"
    if kind == "past":
        return f"I {rest}"
    if role == "concern":
        return f"I'm dealing with {rest}"
    if words[0] in NUMBERS or words[0][0].isdigit():
        return f"I've got {rest}"
    article = "an" if rest[0] in "aeiou" else "a"
    return f"I'm {article} {rest}"  # "Warehouse supervisor" → "I'm a warehouse supervisor"


def first_person(text: str, role: str, name: str = "") -> list[str]:
    """The profile's third-person notes as the client's sentences, one per clause."""
    if name[:1].isupper():  # a real name, not "the client"
        first_name = re.escape(name.split()[0])
        text = re.sub(rf"\b{first_name}'s\b", "her", text)
        text = re.sub(rf"\b{first_name}\b", "she", text)
    clauses = [c.strip(" ,") for c in re.split(r"[;.!?]\s*|\n", text) if c.strip(" ,")]
    return [_capitalise(_clause_in_first_person(clause, role)) + "." for clause in clauses]


def _join_clauses(sentences: list[str]) -> str:
    """Two short clauses read better as one sentence: "I'm stressed, and I'm sleeping badly."""
    if len(sentences) == 2 and sum(len(s) for s in sentences) < 120:
        second = sentences[1]
        if not second.startswith(("I ", "I'm", "I've")):
            second = second[0].lower() + second[1:]
        return f"{sentences[0][:-1]}, and {second}"
    return " ".join(sentences)


def _feeling(persona: Persona) -> str:
    text = " ".join([persona.presenting_concern, *persona.personality_traits, persona.background])
    for word in _words(text):
        for stem, feeling in FEELINGS.items():
            if word.startswith(stem):
                return feeling
    return FALLBACK_FEELING


def _traits_phrase(traits: tuple[str, ...]) -> str:
    traits = tuple(t.strip().lower() for t in traits if t.strip())
    if len(traits) < 2:
        return "".join(traits)
    return ", ".join(traits[:-1]) + " and " + traits[-1]


def _boundary_topic(persona: Persona) -> str:
    text = persona.boundaries.strip()
    if not text:
        return ""
    match = BOUNDARY_TOPIC.search(text)
    topic = match.group(1) if match else re.split(r"[;.]", text)[0]
    return " ".join(_swap_pronouns(topic.split()))


def _voices(persona: Persona) -> list[str]:
    traits = " ".join(persona.personality_traits).lower()
    style = persona.communication_style.lower()
    voices = []
    if persona.age is not None and persona.age < 20 and persona.difficulty >= 3:
        voices.append("young")  # the "I dunno"s of a teenager who would rather not be here
    if persona.age is not None and persona.age >= 60:
        voices.append("older")
    if re.search(r"anxi|nervous|apologe|worri", traits + " " + style):
        voices.append("anxious")
    if re.search(r"humou?r|jok|wit", style):
        voices.append("humour")
    return voices


def _length_bias(persona: Persona, difficulty: int) -> int:
    """Sentences more (or fewer) than the difficulty alone gives, from the style. A guarded
    client stays short however talkative the profile says they are."""
    style = persona.communication_style.lower()
    if re.search(r"\b(long|detailed|stories|talkative|chatty|rambl)", style):
        return 1 if difficulty <= 3 else 0
    if re.search(r"\b(brief|short|terse|few words|monosyllab)", style):
        return -1
    return 0


@dataclass(frozen=True)
class _Client:
    """The profile prepared once per reply: first-person sentences and topic stems."""

    persona: Persona
    concern: str
    concern_short: str
    background: str
    background_short: str
    facts: tuple[str, ...]  # the background's sentences
    feeling: str
    topic: str
    topic_stems: frozenset[str]
    concern_stems: frozenset[str]

    @classmethod
    @functools.lru_cache(maxsize=256)  # the same persona comes back every turn
    def of(cls, persona: Persona) -> _Client:
        concern = first_person(persona.presenting_concern, "concern", persona.name)
        background = first_person(persona.background, "background", persona.name)
        topic = _boundary_topic(persona)
        return cls(
            persona=persona,
            concern=_join_clauses(concern),
            concern_short=concern[0][:-1] if concern else "",
            background=" ".join(background),
            background_short=background[0] if background else "",
            facts=tuple(background),
            feeling=_feeling(persona),
            topic=topic,
            topic_stems=frozenset(_stems(topic or persona.boundaries)),
            concern_stems=frozenset(_stems(persona.presenting_concern)),
        )

    def slots(self, rng: random.Random) -> dict[str, str]:
        traits = self.persona.personality_traits
        return {
            "concern": self.concern,
            "concern_short": self.concern_short,
            "background": self.background,
            "background_short": self.background_short,
            "feeling": self.feeling,
            "Feeling": _capitalise(self.feeling),
            "traits": _traits_phrase(traits),
            "trait": rng.choice(traits).lower() if traits else "",
            "age": str(self.persona.age) if self.persona.age else "",
            "topic": self.topic,
        }


# ---------------------------------------------------------------------------------------
# Choosing the reply.


def classify(text: str, client: _Client | None = None) -> str:
    """The student's move: one of the keys of BANK (bar "boundary_opening")."""
    bare = text.strip().lower().strip(string.punctuation + " ")
    if not bare or bare in MINIMAL_WORDS:
        return "minimal"
    for move, pattern in COMPILED_MOVES:
        # Meta, crisis, safety and goodbye come first; then a boundary topic outranks the rest.
        if move == "advice" and client and _touches(_stems(text), client.topic_stems):
            return "boundary"
        if pattern.search(text):
            return move
    if client and "?" in text and _touches(_stems(text), client.concern_stems):
        return "concern"
    if OPEN_STARTS.search(text):
        return "open_question"
    if CLOSED_STARTS.search(text) or text.rstrip().endswith("?"):
        return "closed_question"
    return "statement"


def _seed(persona: Persona, messages: tuple[ChatMessage, ...]) -> int:
    digest = hashlib.sha256(persona.name.encode())
    for message in messages:
        digest.update(f"\x1e{message.role}\x1f{message.content}".encode())
    return int.from_bytes(digest.digest()[:8], "big")


def _fill(template: str, slots: dict[str, str]) -> str | None:
    """The template with its slots filled, or None when a slot it needs is empty."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(not slots.get(name) for name in names):
        return None
    return template.format(**slots)


def _pick(templates: list[str], slots: dict[str, str], said: str, rng: random.Random) -> str | None:
    """A template not said yet in this conversation, preferably one that does not repeat a
    long slot either (the concern, the background); None once all have been said."""
    filled = [text for t in templates if (text := _fill(t, slots))]
    rng.shuffle(filled)
    fresh = [text for text in filled if text not in said]
    repeated = [v for v in slots.values() if len(v) > LONG_SLOT and v in said]
    new = [text for text in fresh if not any(v in text for v in repeated)]
    return (new or fresh or [None])[0]


def _voice(text: str, voices: list[str], rng: random.Random) -> str:
    """Now and then a word of the client's own before or after the line."""
    for voice in voices:
        before = VOICES[voice].get("before", [])
        if before and text.startswith("I") and rng.random() < 0.3:
            text = rng.choice(before) + text
            break
    for voice in voices:
        after = [a for a in VOICES[voice].get("after", []) if a.strip() not in text]
        if after and text.endswith(".") and rng.random() < 0.25:
            return text + rng.choice(after)
    return text


@dataclass(frozen=True)
class _Turn:
    """What this reply has to do, and everything it may draw on."""

    move: str
    facts: tuple[str, ...]
    difficulty: int
    first: bool  # the client has not spoken yet
    said: str  # the client's earlier replies, not to be repeated
    slots: dict[str, str]
    rng: random.Random

    @property
    def openness(self) -> str:
        return OPENNESS_BY_DIFFICULTY[self.difficulty]

    def pick(self, templates: list[str], also_said: str = "") -> str | None:
        return _pick(templates, self.slots, self.said + "\n" + also_said, self.rng)


def _main_line(turn: _Turn, persona: Persona) -> str:
    opening = persona.opening_line.strip()
    if turn.first and opening and turn.move not in QUIET_MOVES | {"advice"}:
        return opening
    templates = BANK[turn.move][turn.openness]
    # All said already (a long session): saying one again beats saying nothing.
    line = turn.pick(templates) or _pick(templates, turn.slots, "", turn.rng) or "..."
    return _voice(line, _voices(persona), turn.rng) if turn.move in VOICED_MOVES else line


def _extras(turn: _Turn, persona: Persona, main: str) -> list[str]:
    """More sentences for open clients; now and then a challenge from guarded ones."""
    if turn.move in QUIET_MOVES:
        return []
    count = EXTRA_SENTENCES[turn.difficulty] + _length_bias(persona, turn.difficulty)
    if turn.difficulty == 3 and turn.move in {"reflection", "minimal", "concern"}:
        count += turn.rng.random() < 0.5  # some hesitation: sometimes one thing more
    templates = FIRST_ELABORATIONS if turn.first else ELABORATIONS[turn.openness]
    if turn.openness == "open" and not turn.first:
        templates = [*templates, *turn.facts]
    if turn.slots["feeling"] in main:  # named the feeling already
        templates = [t for t in templates if "{feeling}" not in t]
    extras: list[str] = []
    for _ in range(max(0, count)):
        extra = turn.pick(templates, " ".join([main, *extras]))
        if extra is None:
            break  # nothing new left to add
        extras.append(extra)
    if turn.rng.random() < CHALLENGE_CHANCE.get(turn.difficulty, 0.0):
        extras.append(turn.pick(CHALLENGES) or "")
    return [extra for extra in extras if extra]


def _move(student: str, earlier: list[str], said: str, client: _Client) -> tuple[str, int]:
    """The student's move and the difficulty it meets: eased a step for every couple of
    reflections so far; enough of them open a boundary that waits for trust."""
    persona = client.persona
    reflections = sum(classify(text, client) == "reflection" for text in earlier)
    move = classify(student, client)
    if move == "concern" and client.concern_short and client.concern_short in said:
        move = "concern_again"
    if (
        move == "boundary"
        and reflections >= TRUST_FOR_BOUNDARY
        and CONDITIONAL_BOUNDARY.search(persona.boundaries)
    ):
        move = "boundary_opening"
    eased = min(2, reflections // REFLECTIONS_PER_STEP)
    return move, max(1, min(5, persona.difficulty) - eased)


def compose_reply(request: ChatRequest) -> str:
    """The client's next reply to the student's last message."""
    persona = request.persona or GENERIC_CLIENT
    client = _Client.of(persona)
    rng = random.Random(_seed(persona, request.messages))
    *history, last = request.messages or (ChatMessage("user", ""),)
    student = last.content if last.role == "user" else ""
    earlier = [m.content for m in history if m.role == "user"]
    said = "\n".join(m.content for m in history if m.role == "assistant")

    move, difficulty = _move(student, earlier, said, client)
    turn = _Turn(move, client.facts, difficulty, not said, said, client.slots(rng), rng)
    main = _main_line(turn, persona)
    return " ".join([main, *_extras(turn, persona, main)])


# ---------------------------------------------------------------------------------------
# The provider.


def _within(reply: str, max_tokens: int) -> tuple[str, str]:
    """The reply cut at a word to fit `max_tokens`, and the stop reason."""
    if estimate_tokens(reply) <= max_tokens:
        return reply, "end_turn"
    cut = reply[: max_tokens * CHARS_PER_TOKEN]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut), "max_tokens"


def _deltas(reply: str) -> list[tuple[str, int]]:
    """The reply in pieces of a few words (each keeps its trailing space), with word counts."""
    words = re.findall(r"\S+\s*", reply)
    return [
        ("".join(words[i : i + WORDS_PER_DELTA]), len(words[i : i + WORDS_PER_DELTA]))
        for i in range(0, len(words), WORDS_PER_DELTA)
    ]


class SimulatorProvider(Provider):
    """Plays `request.persona` offline, streamed like a model and billed at $0."""

    name = "simulator"

    def __init__(self, delay_seconds: float = 0.03) -> None:
        self.delay_seconds = delay_seconds

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        reply, stop_reason = _within(compose_reply(request), request.max_tokens)
        input_tokens = request.estimated_input_tokens()
        yield Started(f"sim_{uuid.uuid4().hex[:24]}", Usage(input_tokens=input_tokens))
        for text, words in _deltas(reply):
            await asyncio.sleep(self.delay_seconds * words)  # also where cancellation lands
            yield TextDelta(text)
        yield Finished(Usage(input_tokens, estimate_tokens(reply)), stop_reason)

    async def count_tokens(self, request: ChatRequest) -> int:
        return request.estimated_input_tokens()

    async def test_connection(self, model: str) -> ConnectionCheck:
        return ConnectionCheck(True, self.name, model, "the offline simulator", latency_ms=0)

"""Starter rubrics that ship with the demo: counselling skills, a nursing handover and a
sales discovery call. Levels 1–4 with descriptors, weights that say what matters most."""

from __future__ import annotations

from decimal import Decimal

from api.teaching.service import CriterionFields, LevelFields, RubricFields


def _criterion(name: str, description: str, weight: str, *descriptors: str) -> CriterionFields:
    return CriterionFields(
        name=name,
        description=description,
        weight=Decimal(weight),
        levels=[LevelFields(level, text) for level, text in enumerate(descriptors, start=1)],
    )


COUNSELLING = RubricFields(
    name="Counselling skills: first session",
    description="Core micro-skills of a first counselling conversation (person-centred and "
    "motivational interviewing traditions).",
    criteria=[
        _criterion(
            "Active listening",
            "Follows the client's lead, lets them talk, picks up what they say and builds on it.",
            "1",
            "Talks over or past the client; changes topic; answers own questions.",
            "Some attention to what the client says, but often moves on to own agenda.",
            "Mostly follows the client's lead and builds on what they say.",
            "Consistently attuned: follows, picks up cues and lets the client set the pace.",
        ),
        _criterion(
            "Open questions",
            "Uses open questions (what, how, tell me about…) that invite the client to explore, "
            "rather than closed yes/no questions.",
            "1",
            "Almost only closed questions or rapid-fire questioning.",
            "A few open questions among mostly closed ones.",
            "Mostly open questions, well timed.",
            "Open questions that deepen exploration; closed ones only to check facts.",
        ),
        _criterion(
            "Reflections",
            "Reflects content and meaning back to the client (it sounds like…, so you…), "
            "including complex reflections that go a little beyond what was said.",
            "1.5",
            "No reflections.",
            "Occasional simple reflections (repeating words back).",
            "Regular reflections, some going beyond the client's words.",
            "Frequent, accurate complex reflections that move the conversation forward.",
        ),
        _criterion(
            "Empathy",
            "Recognises and names the client's feelings and communicates understanding "
            "without judging or rushing to fix.",
            "1.5",
            "Dismisses, judges or ignores feelings; jumps to advice.",
            "Acknowledges feelings in general terms.",
            "Names specific feelings and shows understanding.",
            "Sustained, accurate empathy; the client visibly feels understood.",
        ),
        _criterion(
            "Structure and summarising",
            "Opens clearly, keeps a sense of direction, summarises what was heard and closes "
            "the session with a next step.",
            "1",
            "No structure; no summary; abrupt ending.",
            "Some structure, but no summary or a rushed close.",
            "Clear opening and close with at least one summary.",
            "Well-paced session with summaries that link themes and an agreed next step.",
        ),
    ],
)

NURSING_HANDOVER = RubricFields(
    name="Nursing handover (SBAR)",
    description="A structured clinical handover: Situation, Background, Assessment, "
    "Recommendation.",
    criteria=[
        _criterion(
            "Situation",
            "States who the patient is and the current concern clearly at the start.",
            "1",
            "Concern missing or unclear.",
            "Concern stated but vague or late.",
            "Clear concern early.",
            "Concise, prioritised concern in the opening sentences.",
        ),
        _criterion(
            "Background and assessment",
            "Gives relevant history, observations and own assessment; asks open questions to "
            "gather what is missing.",
            "1.5",
            "Key history or observations missing.",
            "Some relevant facts, disorganised.",
            "Relevant facts and an assessment.",
            "Focused, complete picture with a clear clinical judgement.",
        ),
        _criterion(
            "Recommendation and read-back",
            "Says what is needed and by when, checks understanding and summarises the plan.",
            "1",
            "No recommendation or check.",
            "Recommendation unclear; no read-back.",
            "Clear recommendation and some check of understanding.",
            "Specific, time-bound plan confirmed by read-back or summary.",
        ),
    ],
)

SALES_DISCOVERY = RubricFields(
    name="Sales discovery call",
    description="Understanding a prospect's needs before proposing anything.",
    criteria=[
        _criterion(
            "Discovery questions",
            "Asks open questions about the prospect's situation, problems and goals.",
            "1.5",
            "Pitches without asking.",
            "A few surface questions.",
            "Open questions that uncover needs.",
            "Layered questions that uncover impact and priorities.",
        ),
        _criterion(
            "Listening and reflecting",
            "Reflects back what the prospect said and lets them talk most of the time.",
            "1",
            "Talks most of the time; ignores answers.",
            "Some acknowledgement of answers.",
            "Reflects needs accurately.",
            "Prospect talks most; reflections confirm and deepen needs.",
        ),
        _criterion(
            "Summary and next step",
            "Summarises needs and agrees a concrete next step.",
            "1",
            "No summary, no next step.",
            "Vague next step.",
            "Summary and a next step.",
            "Accurate summary confirmed by the prospect and a committed next step.",
        ),
    ],
)

STARTERS = (COUNSELLING, NURSING_HANDOVER, SALES_DISCOVERY)

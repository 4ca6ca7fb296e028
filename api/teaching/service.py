"""The rules of rubrics and evaluations: who may write, attach, publish, read and ask.

Teachers see and edit their own rubrics, admins all of them; students see none, only
the criteria that their released feedback shows. Editing a rubric that already has
evaluations makes a new version; the old evaluations keep theirs.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.audit import service as audit
from api.classes import service as classes
from api.classes.models import Assignment
from api.config import Settings
from api.conversations import repository as conversations
from api.conversations.models import Session, SessionStatus
from api.db.base import utcnow
from api.db.session import after_commit
from api.errors import FieldChecker
from api.pagination import Order, Page, PageRequest, paginate
from api.teaching import repository
from api.teaching.errors import TeachingError
from api.teaching.measures import METHOD_VERSION, Measures, measure_session, store_measures
from api.teaching.models import (
    Evaluation,
    EvaluationStatus,
    EvaluatorKind,
    Rubric,
    RubricStatus,
    RubricVersion,
)

MAX_NAME_CHARS = 120
MAX_DESCRIPTION_CHARS = 2000
MAX_DESCRIPTOR_CHARS = 1000
MAX_CRITERIA = 12
MIN_LEVELS, MAX_LEVELS = 2, 10
LOWEST_LEVEL, HIGHEST_LEVEL = 0, 10
MAX_WEIGHT = Decimal(100)
WEIGHT_PLACES = 3
RUBRICS_BY_NAME = Order((Rubric.name, Rubric.id))


@dataclass
class LevelFields:
    level: int
    descriptor: str


@dataclass
class CriterionFields:
    name: str
    description: str
    weight: Decimal | str
    levels: list[LevelFields]


@dataclass
class RubricFields:
    name: str
    criteria: list[CriterionFields]
    description: str = ""


@dataclass
class CheckedRubric:
    name: str
    description: str
    criteria: list[dict] = field(default_factory=list)


def criterion_key(name: str) -> str:
    """A criterion's key from its name: lower-case ASCII words joined by `_`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:80]
    return key or "criterion"


def _weight(check: FieldChecker, path: str, value: Decimal | str) -> Decimal | None:
    try:
        weight = Decimal(str(value).strip())
    except InvalidOperation:
        check.add(path, "Weight must be a number, for example 1 or 0.5.")
        return None
    if not weight.is_finite() or weight <= 0:
        check.add(path, "Weight must be a positive number.")
    elif weight > MAX_WEIGHT:
        check.add(path, f"Weight can be at most {MAX_WEIGHT}.")
    elif weight != weight.quantize(Decimal(1).scaleb(-WEIGHT_PLACES)):
        check.add(path, f"Weight can have at most {WEIGHT_PLACES} decimal places.")
    else:
        return weight.normalize()
    return None


def _levels(check: FieldChecker, path: str, levels: list[LevelFields]) -> list[dict]:
    if not MIN_LEVELS <= len(levels) <= MAX_LEVELS:
        check.add(path, f"A criterion needs {MIN_LEVELS} to {MAX_LEVELS} levels.")
    checked: list[dict] = []
    seen: set[int] = set()
    for index, level in enumerate(levels):
        here = f"{path}.{index}"
        if not LOWEST_LEVEL <= level.level <= HIGHEST_LEVEL:
            check.add(
                f"{here}.level", f"A level must be between {LOWEST_LEVEL} and {HIGHEST_LEVEL}."
            )
        elif level.level in seen:
            check.add(f"{here}.level", f"Level {level.level} appears twice.")
        elif checked and level.level < checked[-1]["level"]:
            check.add(f"{here}.level", "Levels must be listed from lowest to highest.")
        seen.add(level.level)
        descriptor = check.text(
            f"{here}.descriptor",
            level.descriptor,
            label=f"The descriptor of level {level.level}",
            max_chars=MAX_DESCRIPTOR_CHARS,
        )
        checked.append({"level": level.level, "descriptor": descriptor or ""})
    return checked


def check_rubric(fields: RubricFields) -> CheckedRubric:
    """Every problem at once, as BAD_USER_INPUT naming the field (`criteria.1.weight`)."""
    check = FieldChecker()
    name = check.text("name", fields.name, label="Name", max_chars=MAX_NAME_CHARS)
    description = check.text(
        "description",
        fields.description,
        label="Description",
        max_chars=MAX_DESCRIPTION_CHARS,
        required=False,
    )
    if not fields.criteria:
        check.add("criteria", "A rubric needs at least one criterion.")
    elif len(fields.criteria) > MAX_CRITERIA:
        check.add("criteria", f"A rubric can have at most {MAX_CRITERIA} criteria.")
    criteria: list[dict] = []
    keys: set[str] = set()
    for index, criterion in enumerate(fields.criteria):
        path = f"criteria.{index}"
        criterion_name = check.text(
            f"{path}.name", criterion.name, label="Criterion name", max_chars=MAX_NAME_CHARS
        )
        key = criterion_key(criterion_name or "")
        if criterion_name and key in keys:
            check.add(f"{path}.name", f"Two criteria are called “{criterion_name}”.")
        keys.add(key)
        criterion_description = check.text(
            f"{path}.description",
            criterion.description,
            label="Criterion description",
            max_chars=MAX_DESCRIPTION_CHARS,
        )
        weight = _weight(check, f"{path}.weight", criterion.weight)
        levels = _levels(check, f"{path}.levels", criterion.levels)
        criteria.append(
            {
                "key": key,
                "name": criterion_name or "",
                "description": criterion_description or "",
                "weight": str(weight),
                "levels": levels,
            }
        )
    check.raise_if_any(TeachingError)
    return CheckedRubric(name or "", description or "", criteria)


def can_see_rubric(actor: Actor, rubric: Rubric) -> bool:
    return actor.is_admin or (actor.is_teacher and rubric.owner_id == actor.id)


def overall_score(criteria: list[dict], levels: dict[str, int]) -> Decimal | None:
    """Σ weight × (level − lowest) / (highest − lowest) over Σ weight: 0 to 1, three places."""
    total = achieved = Decimal(0)
    for criterion in criteria:
        if criterion["key"] not in levels:
            return None
        scale = [lv["level"] for lv in criterion["levels"]]
        low, high = min(scale), max(scale)
        weight = Decimal(criterion["weight"])
        total += weight
        achieved += weight * Decimal(levels[criterion["key"]] - low) / Decimal(high - low)
    if not total:
        return None
    return (achieved / total).quantize(Decimal("0.001"))


def _require_teacher(actor: Actor, doing: str) -> None:
    if actor.is_student:
        raise TeachingError.forbidden(f"Only teachers and admins can {doing}.")


async def create_rubric(session: AsyncSession, actor: Actor, fields: RubricFields) -> Rubric:
    _require_teacher(actor, "write rubrics")
    checked = check_rubric(fields)
    rubric = Rubric(owner_id=actor.id, name=checked.name, description=checked.description)
    await repository.add(session, rubric)
    version = RubricVersion(
        rubric_id=rubric.id, version=1, criteria=checked.criteria, created_by_id=actor.id
    )
    await repository.add(session, version)
    return rubric


async def get_rubric(
    session: AsyncSession, actor: Actor, rubric_id: uuid.UUID, *, lock: bool = False
) -> Rubric:
    found = await repository.get_visible_rubric(session, actor, rubric_id, lock=lock)
    if found is None:
        raise TeachingError.not_found("Rubric")
    return found


async def list_rubrics(session: AsyncSession, actor: Actor, page: PageRequest) -> Page[Rubric]:
    return await paginate(session, repository.rubrics_visible_to(actor), RUBRICS_BY_NAME, page)


async def update_rubric(
    session: AsyncSession, actor: Actor, rubric_id: uuid.UUID, fields: RubricFields
) -> tuple[Rubric, bool]:
    """Replace a rubric's name, description and criteria. Returns the rubric and whether a
    new version was made (the current one had evaluations, which keep it)."""
    _require_teacher(actor, "edit rubrics")
    rubric = await get_rubric(session, actor, rubric_id, lock=True)
    checked = check_rubric(fields)
    current = await repository.version_of(session, rubric.id, rubric.current_version)
    rubric.name, rubric.description, rubric.updated_at = (
        checked.name,
        checked.description,
        utcnow(),
    )
    if current.criteria == checked.criteria:
        await session.flush()
        return rubric, False
    if await repository.version_is_evaluated(session, current.id):
        rubric.current_version += 1
        await repository.add(
            session,
            RubricVersion(
                rubric_id=rubric.id,
                version=rubric.current_version,
                criteria=checked.criteria,
                created_by_id=actor.id,
            ),
        )
        return rubric, True
    current.criteria = checked.criteria
    await session.flush()
    return rubric, False


async def publish_rubric(session: AsyncSession, actor: Actor, rubric_id: uuid.UUID) -> Rubric:
    """Make a rubric usable on assignments. Publishing again changes nothing."""
    _require_teacher(actor, "publish rubrics")
    rubric = await get_rubric(session, actor, rubric_id, lock=True)
    if rubric.status is not RubricStatus.PUBLISHED:
        rubric.status, rubric.published_at = RubricStatus.PUBLISHED, utcnow()
        await session.flush()
        await audit.record(
            session,
            actor,
            audit.Action.RUBRIC_PUBLISH,
            "rubric",
            rubric.id,
            {"name": rubric.name, "version": rubric.current_version, "owner_id": rubric.owner_id},
        )
    return rubric


async def current_version(session: AsyncSession, rubric: Rubric) -> RubricVersion:
    return await repository.version_of(session, rubric.id, rubric.current_version)


async def rubric_versions(session: AsyncSession, rubric: Rubric) -> list[RubricVersion]:
    return await repository.versions_of(session, rubric.id)


async def set_assignment_rubric(
    session: AsyncSession,
    actor: Actor,
    assignment_id: uuid.UUID,
    rubric_id: uuid.UUID | None,
) -> Assignment:
    """Attach a published rubric to an assignment of a section the actor teaches (or
    detach it with None). The same rubric may serve any number of assignments."""
    _require_teacher(actor, "attach rubrics")
    assignment = await classes.get_assignment(session, actor, assignment_id)
    if rubric_id is not None:
        try:
            rubric = await get_rubric(session, actor, rubric_id)
        except TeachingError as error:
            raise TeachingError.invalid("rubric_id", error.message) from error
        if rubric.status is not RubricStatus.PUBLISHED:
            raise TeachingError.conflict("Publish the rubric before attaching it.")
    if assignment.rubric_id != rubric_id:
        assignment.rubric_id = rubric_id
        await session.flush()
        await audit.record(
            session,
            actor,
            audit.Action.ASSIGNMENT_RUBRIC_SET,
            "assignment",
            assignment.id,
            {"rubric_id": rubric_id, "section_id": assignment.section_id},
        )
    return assignment


# Evaluations


def can_review(actor: Actor, conversation: Session) -> bool:
    """Teachers and admins who see a session may ask for and read its evaluations; its
    student only reads released ones."""
    return not actor.is_student


async def _visible_session(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> Session:
    found = await conversations.get_visible(session, actor, session_id, lock=True)
    if found is None:
        raise TeachingError.not_found("Session")
    return found


async def request_evaluation(
    session: AsyncSession,
    actor: Actor,
    session_id: uuid.UUID,
    *,
    rubric_id: uuid.UUID | None = None,
    settings: Settings,
    queue: EvaluationQueue | None = None,
) -> Evaluation:
    """Queue an evaluation of a completed session, against the given rubric or its
    assignment's. An active session, or one being evaluated already, is a CONFLICT."""
    conversation = await _visible_session(session, actor, session_id)
    if not can_review(actor, conversation):
        raise TeachingError.forbidden(
            "Only the session's teachers and admins can ask for feedback."
        )
    if conversation.status is SessionStatus.ACTIVE:
        raise TeachingError.conflict(
            "This session is still going on; it can be evaluated once it ends."
        )
    if rubric_id is not None:
        try:
            rubric = await get_rubric(session, actor, rubric_id)
        except TeachingError as error:
            raise TeachingError.invalid("rubric_id", error.message) from error
    else:
        rubric = await _assignment_rubric(session, conversation)
        if rubric is None:
            raise TeachingError.invalid(
                "rubric_id", "This session's assignment has no rubric: choose one."
            )
    if await repository.in_progress(session, conversation.id) is not None:
        raise TeachingError.conflict("This session is being evaluated already.")
    version = await current_version(session, rubric)
    return await _queue(session, settings, conversation, version, actor.id, queue)


async def _assignment_rubric(session: AsyncSession, conversation: Session) -> Rubric | None:
    if conversation.assignment_id is None:
        return None
    assignment = await session.get(Assignment, conversation.assignment_id)
    if assignment is None or assignment.rubric_id is None:
        return None
    return await session.get(Rubric, assignment.rubric_id)


class EvaluationQueue:
    """What runs queued evaluations (the evaluation engine); see `api.teaching.engine`."""

    settings: Settings

    def start(self, evaluation: Evaluation) -> None:  # pragma: no cover - interface
        raise NotImplementedError


async def _queue(
    session: AsyncSession,
    settings: Settings,
    conversation: Session,
    version: RubricVersion,
    requested_by: uuid.UUID | None,
    queue: EvaluationQueue | None,
) -> Evaluation:
    evaluator = EvaluatorKind.AI if settings.evaluation_uses_model else EvaluatorKind.OFFLINE
    model = settings.evaluation_model
    evaluation = Evaluation(
        session_id=conversation.id,
        rubric_version_id=version.id,
        status=EvaluationStatus.QUEUED,
        evaluator=evaluator,
        model=model if evaluator is EvaluatorKind.AI else None,
        requested_by_id=requested_by,
        strengths=[],
        next_steps=[],
    )
    try:
        async with session.begin_nested():
            await repository.add(session, evaluation)
    except IntegrityError as error:
        raise TeachingError.conflict("This session is being evaluated already.") from error
    if queue is not None:
        after_commit(session, lambda: queue.start(evaluation))
    return evaluation


async def evaluations_of(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID
) -> list[Evaluation]:
    """A session's evaluations, newest first: all for its teachers and admins, the
    released ones for its student."""
    found = await repository.evaluations_of(session, session_id)
    if actor.is_student:
        return [e for e in found if e.released_at is not None]
    return found


async def get_evaluation(
    session: AsyncSession, actor: Actor, evaluation_id: uuid.UUID
) -> Evaluation:
    """An evaluation of a session the actor sees (students: released ones only)."""
    evaluation = await session.get(Evaluation, evaluation_id)
    if evaluation is not None:
        visible = await conversations.get_visible(session, actor, evaluation.session_id)
        if visible is not None and (not actor.is_student or evaluation.released_at is not None):
            return evaluation
    raise TeachingError.not_found("Evaluation")


async def measures_for(
    session: AsyncSession, session_id: uuid.UUID, stored=None
) -> Measures | None:
    """The measures of a completed session the caller may see: as stored when it ended,
    else computed now (sessions that ended before measures existed). None while active.
    `stored`: a loader of stored measures by session id, to batch lookups."""
    row = await stored.load(session_id) if stored is not None else None
    if row is None:
        row = (await repository.measures_of(session, [session_id])).get(session_id)
    if row is not None and row.method_version == METHOD_VERSION:
        return Measures.of_row(row)
    conversation = await session.get(Session, session_id)
    if conversation is None or conversation.status is SessionStatus.ACTIVE:
        return None
    return await measure_session(session, session_id)


async def session_ended(
    session: AsyncSession, conversation: Session, queue: EvaluationQueue | None
) -> Evaluation | None:
    """A session just ended (in the caller's transaction): store its measures and, when
    its assignment has a rubric, queue its evaluation (started once committed)."""
    await store_measures(session, conversation.id)
    if queue is None:
        return None
    rubric = await _assignment_rubric(session, conversation)
    if rubric is None:
        return None
    if await repository.in_progress(session, conversation.id) is not None:
        return None
    version = await current_version(session, rubric)
    return await _queue(session, queue.settings, conversation, version, None, queue)

"""Rubrics: the teacher's list, and the editor (criteria, weights, levels), with the API's
problems shown beside the field they are about."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from ui import routes
from ui.format import readable_time
from ui.state.base import AppState

NEW = "new"
STARTER_LEVELS = [
    (1, "Not yet shown"),
    (2, "Beginning: shown once or twice"),
    (3, "Developing: shown often"),
    (4, "Secure: shown throughout"),
]


@dataclasses.dataclass
class RubricRow:
    id: str = ""
    name: str = ""
    href: str = ""
    criteria: str = ""  # "3 criteria"
    status: str = ""
    published: bool = False
    version: str = ""
    updated: str = ""


@dataclasses.dataclass
class CriterionDraft:
    index: int = 0
    name: str = ""
    description: str = ""
    weight: str = "1"
    name_error: str = ""
    description_error: str = ""
    weight_error: str = ""
    levels_error: str = ""


@dataclasses.dataclass
class LevelDraft:
    criterion: int = 0
    index: int = 0
    level: str = ""
    descriptor: str = ""
    level_error: str = ""
    descriptor_error: str = ""


class RubricListState(AppState):
    rubrics: list[RubricRow] = []
    list_loading: bool = True
    list_error: str = ""

    @rx.event
    async def load_rubrics(self):
        self.list_loading, self.list_error = True, ""
        yield
        reply = await self._call("TeacherRubrics")
        self.list_loading = False
        if reply.failed:
            self.list_error = f"Your rubrics could not be loaded. {reply.message}"
            yield reply.redirect
            return
        self.rubrics = [
            RubricRow(
                id=r["id"],
                name=r["name"],
                href=routes.rubric_editor(r["id"]),
                criteria=f"{len(r['criteria'])} criteria",
                status="Published" if r["status"] == "PUBLISHED" else "Draft",
                published=r["status"] == "PUBLISHED",
                version=f"v{r['version']}",
                updated=readable_time(r["updatedAt"]),
            )
            for r in reply.data["rubrics"]["nodes"]
        ]


class RubricEditorState(AppState):
    rubric_id: str = ""  # "" while new
    editor_loading: bool = True
    not_found: bool = False
    name: str = ""
    description: str = ""
    status: str = ""  # DRAFT | PUBLISHED ("" while new)
    version: int = 0
    criteria: list[CriterionDraft] = []
    levels: list[LevelDraft] = []
    name_error: str = ""
    description_error: str = ""
    criteria_error: str = ""
    form_error: str = ""
    message: str = ""
    saving: bool = False
    _saved_notice: str = ""  # a new rubric's "Saved…", kept for the page it goes to

    @rx.var
    def is_new(self) -> bool:
        return self.rubric_id == ""

    @rx.var
    def published(self) -> bool:
        return self.status == "PUBLISHED"

    @rx.event
    async def load_editor(self):
        if not self.signed_in:
            return
        wanted = self.router.page.params.get("rubric_id", NEW)
        # Arriving from saving a new rubric, the page says so (else it would flash away).
        arrived = self._saved_notice if wanted == self.rubric_id else ""
        self.editor_loading, self.not_found, self.message = True, False, arrived
        self._saved_notice = ""
        self._clear_errors()
        yield
        if wanted == NEW:
            self.rubric_id, self.name, self.description, self.status, self.version = (
                "",
                "",
                "",
                "",
                0,
            )
            self.criteria, self.levels = [], []
            self._add_criterion()
            self.editor_loading = False
            return
        reply = await self._call("TeacherRubric", id=wanted)
        self.editor_loading = False
        if reply.failed:
            self.not_found = reply.not_found
            self.form_error = reply.message
            yield reply.redirect
            return
        self._show(reply.data["rubric"])

    def _show(self, rubric: dict[str, Any]) -> None:
        self.rubric_id, self.name = rubric["id"], rubric["name"]
        self.description, self.status = rubric["description"], rubric["status"]
        self.version = rubric["version"]
        self.criteria = [
            CriterionDraft(i, c["name"], c["description"], str(c["weight"]))
            for i, c in enumerate(rubric["criteria"])
        ]
        self.levels = [
            LevelDraft(i, j, str(lv["level"]), lv["descriptor"])
            for i, c in enumerate(rubric["criteria"])
            for j, lv in enumerate(c["levels"])
        ]

    def _clear_errors(self) -> None:
        self.name_error = self.description_error = self.criteria_error = self.form_error = ""
        self.criteria = [
            dataclasses.replace(
                c, name_error="", description_error="", weight_error="", levels_error=""
            )
            for c in self.criteria
        ]
        self.levels = [
            dataclasses.replace(lv, level_error="", descriptor_error="") for lv in self.levels
        ]

    # Editing ---------------------------------------------------------------------------------

    @rx.event
    def set_name(self, value: str):
        self.name, self.name_error = value, ""

    @rx.event
    def set_description(self, value: str):
        self.description, self.description_error = value, ""

    @rx.event
    def set_criterion(self, index: int, key: str, value: str):
        self.criteria = [
            dataclasses.replace(c, **{key: value, f"{key}_error": ""}) if c.index == index else c
            for c in self.criteria
        ]

    @rx.event
    def set_level(self, criterion: int, index: int, key: str, value: str):
        self.levels = [
            dataclasses.replace(lv, **{key: value, f"{key}_error": ""})
            if lv.criterion == criterion and lv.index == index
            else lv
            for lv in self.levels
        ]

    def _add_criterion(self) -> None:
        index = len(self.criteria)
        self.criteria = [*self.criteria, CriterionDraft(index=index)]
        self.levels = [
            *self.levels,
            *(LevelDraft(index, j, str(n), text) for j, (n, text) in enumerate(STARTER_LEVELS)),
        ]

    @rx.event
    def add_criterion(self):
        self._add_criterion()
        self.criteria_error = ""

    @rx.event
    def remove_criterion(self, index: int):
        kept = [c for c in self.criteria if c.index != index]
        renumber = {c.index: i for i, c in enumerate(kept)}
        self.criteria = [dataclasses.replace(c, index=renumber[c.index]) for c in kept]
        self.levels = [
            dataclasses.replace(lv, criterion=renumber[lv.criterion])
            for lv in self.levels
            if lv.criterion in renumber
        ]

    @rx.event
    def add_level(self, criterion: int):
        mine = [lv for lv in self.levels if lv.criterion == criterion]
        top = max((int(lv.level) for lv in mine if lv.level.isdigit()), default=0)
        self.levels = [*self.levels, LevelDraft(criterion, len(mine), str(top + 1), "")]

    @rx.event
    def remove_level(self, criterion: int, index: int):
        kept = []
        for lv in self.levels:
            if lv.criterion != criterion:
                kept.append(lv)
            elif lv.index != index:
                kept.append(
                    dataclasses.replace(
                        lv, index=len([k for k in kept if k.criterion == criterion])
                    )
                )
        self.levels = kept

    # Saving ----------------------------------------------------------------------------------

    def _input(self) -> dict[str, Any]:
        def level_number(text: str) -> int:
            try:
                return int(text)
            except ValueError:
                return -1  # the API says what is wrong with it, by its field

        return {
            "name": self.name,
            "description": self.description,
            "criteria": [
                {
                    "name": c.name,
                    "description": c.description,
                    "weight": c.weight.strip() or "0",
                    "levels": [
                        {"level": level_number(lv.level), "descriptor": lv.descriptor}
                        for lv in sorted(self.levels, key=lambda x: x.index)
                        if lv.criterion == c.index
                    ],
                }
                for c in self.criteria
            ],
        }

    @rx.event
    async def save(self, _form: dict | None = None):
        self._clear_errors()
        self.message = ""
        bad_weights = [c.index for c in self.criteria if not _is_decimal(c.weight)]
        if bad_weights:
            self.criteria = [
                dataclasses.replace(
                    c, weight_error="Weight must be a number, for example 1 or 0.5."
                )
                if c.index in bad_weights
                else c
                for c in self.criteria
            ]
            self.form_error = "Please fix the fields marked below."
            return
        self.saving = True
        yield
        if self.rubric_id:
            reply = await self._call("UpdateRubric", id=self.rubric_id, input=self._input())
        else:
            reply = await self._call("CreateRubric", input=self._input())
        self.saving = False
        if reply.failed:
            self._show_errors(reply.error.fields, reply.message)
            yield reply.redirect
            return
        if self.rubric_id:
            payload = reply.data["updateRubric"]
            self.message = (
                "Saved as a new version: earlier feedback keeps the version it was made with."
                if payload["newVersion"]
                else "Saved."
            )
        else:
            payload = reply.data["createRubric"]
            self.message = "Saved as a draft. Publish it to use it on assignments."
        was_new = not self.rubric_id
        self._show(payload["rubric"])
        if was_new:
            self._saved_notice = self.message
            yield rx.redirect(routes.rubric_editor(self.rubric_id), replace=True)

    def _show_errors(self, fields: dict[str, str], message: str) -> None:
        if not fields:
            self.form_error = message
            return
        self.name_error = fields.get("name", "")
        self.description_error = fields.get("description", "")
        self.criteria_error = fields.get("criteria", "")
        criteria = []
        for c in self.criteria:
            prefix = f"criteria.{c.index}."
            criteria.append(
                dataclasses.replace(
                    c,
                    name_error=fields.get(prefix + "name", ""),
                    description_error=fields.get(prefix + "description", ""),
                    weight_error=fields.get(prefix + "weight", ""),
                    levels_error=fields.get(prefix + "levels", ""),
                )
            )
        self.criteria = criteria
        self.levels = [
            dataclasses.replace(
                lv,
                level_error=fields.get(f"criteria.{lv.criterion}.levels.{lv.index}.level", ""),
                descriptor_error=fields.get(
                    f"criteria.{lv.criterion}.levels.{lv.index}.descriptor", ""
                ),
            )
            for lv in self.levels
        ]
        self.form_error = "Please fix the fields marked below."

    @rx.event
    async def publish(self):
        self.saving, self.message, self.form_error = True, "", ""
        yield
        reply = await self._call("PublishRubric", id=self.rubric_id)
        self.saving = False
        if reply.failed:
            self.form_error = reply.message
            yield reply.redirect
            return
        self._show(reply.data["publishRubric"]["rubric"])
        self.message = "Published: you can now attach it to assignments."


def _is_decimal(text: str) -> bool:
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False

"""Admins: cost caps (budgets) for everyone, a section or a student, and the rate limits."""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation

import reflex as rx

from ui.format import money, readable_time
from ui.state.base import AppState

SCOPES = {"GLOBAL": "Everyone", "SECTION": "A section", "STUDENT": "A student"}
PERIODS = {"DAILY": "Daily", "MONTHLY": "Monthly"}
DEFAULT_ALERTS = "50, 80, 100"
BUDGET_FIELDS = ("limitUsd", "alertPercents", "sectionId", "studentId")
RATE_FIELDS = ("messagesPerStudent", "messagesGlobal", "loginsPerAddress", "loginsPerEmail")


@dataclasses.dataclass
class BudgetRow:
    id: str = ""
    scope: str = ""  # GLOBAL | SECTION | STUDENT
    scope_id: str = ""  # the section's or student's id
    applies_to: str = ""  # "Everyone", or the section's or student's name
    kind: str = ""  # "Section" or "Student"; empty for everyone
    period: str = ""  # DAILY | MONTHLY
    period_label: str = ""
    name: str = ""  # "the daily budget for Everyone"
    limit_usd: str = ""  # as the API wrote it, e.g. "10" (what the form takes)
    limit: str = ""  # as people read it, "$10.00"
    spent: str = ""
    percent: int = 0  # of the limit spent, at most 100 (the bar)
    percent_label: str = ""  # may pass 100 %
    level: str = "ok"  # ok | near | over
    resets_at: str = ""
    alerts: str = ""  # "50, 80, 100 %" or "None"
    alert_percents: str = ""  # "50, 80, 100", as the form takes them


def share(spent: str, limit: str) -> tuple[int, str, str]:
    """(bar percent, label, level) of a limit spent; Decimal all the way, never float."""
    try:
        percent = Decimal(spent) * 100 / Decimal(limit)
    except (InvalidOperation, ZeroDivisionError):
        return 0, "", "ok"
    label = "< 1 %" if 0 < percent < 1 else f"{int(percent)} %"
    level = "over" if percent >= 100 else "near" if percent >= 80 else "ok"
    return min(100, int(percent)), label, level


def _short(id_: str) -> str:
    return id_[:8] + "…" if len(id_) > 8 else id_


class AdminBudgetsState(AppState):
    # The budgets
    loading: bool = True
    load_error: str = ""
    budgets: list[BudgetRow] = []
    sections: list[dict[str, str]] = []  # id, name
    students: list[dict[str, str]] = []  # id, name, label (with their section)
    budget_notice: str = ""  # after a save or a delete
    action_error: str = ""  # why a delete failed

    # The budget form (a dialog), new or editing
    form_open: bool = False
    editing: bool = False  # scope and period name the budget: fixed while editing
    form_title: str = "New budget"
    form_scope: str = "GLOBAL"
    form_section_id: str = ""
    form_student_id: str = ""
    form_period: str = "DAILY"
    form_limit: str = ""
    form_alerts: str = DEFAULT_ALERTS
    form_error: str = ""
    field_errors: dict[str, str] = dict.fromkeys(BUDGET_FIELDS, "")
    saving: bool = False

    # Deleting, once confirmed
    delete_id: str = ""
    delete_label: str = ""
    deleting: bool = False

    # Rate limits
    limits_loading: bool = True
    limits_load_error: str = ""
    limits_error: str = ""  # why saving failed
    limits: dict[str, str] = dict.fromkeys(RATE_FIELDS, "")
    limits_errors: dict[str, str] = dict.fromkeys(RATE_FIELDS, "")
    limits_updated: str = ""
    limits_saving: bool = False
    limits_saved: str = ""

    @rx.var
    def replaces(self) -> str:
        """A new budget for a scope and period that has one already takes its place."""
        if self.editing:
            return ""
        chosen = {"SECTION": self.form_section_id, "STUDENT": self.form_student_id}
        scope_id = chosen.get(self.form_scope, "")
        for b in self.budgets:
            if (b.scope, b.period, b.scope_id) == (self.form_scope, self.form_period, scope_id):
                return f"This replaces {b.name} ({b.limit})."
        return ""

    @rx.var
    def delete_open(self) -> bool:
        return bool(self.delete_id)

    # Loading

    @rx.event
    async def load(self):
        # A reload starts afresh: no dialog left open, no error from before.
        self.form_open, self.delete_id = False, ""
        self._reset_form()
        self.limits_errors = dict.fromkeys(RATE_FIELDS, "")
        self.limits_error = self.limits_saved = self.action_error = ""
        self.loading = self.limits_loading = True
        yield
        redirect = await self._load_budgets()
        if redirect is not None:
            yield redirect
            return
        yield
        yield await self._load_limits()

    async def _load_budgets(self):
        reply = await self._call("AdminBudgets")
        self.loading = False
        if reply.failed:
            self.load_error = reply.message
            return reply.redirect
        data = reply.data
        self._take_sections(data["sections"]["nodes"])
        self.budgets = [self._row(budget) for budget in data["budgets"]]
        self.load_error = ""
        return None

    def _take_sections(self, sections: list[dict]) -> None:
        self.sections = [{"id": s["id"], "name": s["name"]} for s in sections]
        students: dict[str, dict[str, str]] = {}
        for section in sections:
            for student in section["students"]["nodes"]:
                label = f"{student['name']} ({section['name']})"
                students.setdefault(
                    student["id"], {"id": student["id"], "name": student["name"], "label": label}
                )
        self.students = sorted(students.values(), key=lambda s: s["label"].lower())

    def _scope_name(self, scope: str, scope_id: str) -> str:
        if scope == "SECTION":
            names = {s["id"]: s["name"] for s in self.sections}
            return names.get(scope_id, f"Section {_short(scope_id)}")
        if scope == "STUDENT":
            names = {s["id"]: s["name"] for s in self.students}
            return names.get(scope_id, f"Student {_short(scope_id)}")
        return "Everyone"

    def _row(self, budget: dict) -> BudgetRow:
        scope = budget["scope"]
        scope_id = budget.get("sectionId") or budget.get("studentId") or ""
        applies_to = self._scope_name(scope, scope_id)
        percent, label, level = share(budget["spentUsd"], budget["limitUsd"])
        percents = ", ".join(str(p) for p in budget["alertPercents"])
        return BudgetRow(
            id=budget["id"],
            scope=scope,
            scope_id=scope_id,
            applies_to=applies_to,
            kind={"SECTION": "Section", "STUDENT": "Student"}.get(scope, ""),
            period=budget["period"],
            period_label=PERIODS.get(budget["period"], budget["period"]),
            name=f"the {PERIODS.get(budget['period'], '').lower()} budget for {applies_to}",
            limit_usd=budget["limitUsd"],
            limit=money(budget["limitUsd"]),
            spent=money(budget["spentUsd"]),
            percent=percent,
            percent_label=label,
            level=level,
            resets_at=readable_time(budget["resetsAt"]),
            alerts=f"{percents} %" if percents else "None",
            alert_percents=percents,
        )

    async def _load_limits(self):
        reply = await self._call("AdminRateLimits")
        self.limits_loading = False
        if reply.failed:
            self.limits_load_error = reply.message
            return reply.redirect
        self._take_limits(reply.data["rateLimits"])
        self.limits_load_error = ""
        return None

    def _take_limits(self, limits: dict) -> None:
        self.limits = {name: limits[name] for name in RATE_FIELDS}
        self.limits_updated = readable_time(limits["updatedAt"])

    # The budget form

    @rx.event
    def open_new(self):
        self._reset_form()
        self.form_open = True

    @rx.event
    def open_edit(self, budget_id: str):
        budget = next((b for b in self.budgets if b.id == budget_id), None)
        if budget is None:
            return
        self._reset_form()
        self.editing = True
        self.form_scope, self.form_period = budget.scope, budget.period
        self.form_section_id = budget.scope_id if budget.scope == "SECTION" else ""
        self.form_student_id = budget.scope_id if budget.scope == "STUDENT" else ""
        self.form_limit, self.form_alerts = budget.limit_usd, budget.alert_percents
        self.form_title = f"Edit {budget.name}"
        self.form_open = True

    def _reset_form(self) -> None:
        self.editing, self.form_title = False, "New budget"
        self.form_scope, self.form_period = "GLOBAL", "DAILY"
        self.form_section_id = self.form_student_id = self.form_limit = ""
        self.form_alerts = DEFAULT_ALERTS
        self.form_error, self.budget_notice = "", ""
        self.field_errors = dict.fromkeys(BUDGET_FIELDS, "")

    @rx.event
    def set_form_open(self, open_: bool):
        self.form_open = open_

    @rx.event
    def set_form_scope(self, value: str):
        self.form_scope = value

    @rx.event
    def set_form_section_id(self, value: str):
        self.form_section_id = value
        self.field_errors["sectionId"] = ""

    @rx.event
    def set_form_student_id(self, value: str):
        self.form_student_id = value
        self.field_errors["studentId"] = ""

    @rx.event
    def set_form_period(self, value: str):
        self.form_period = value

    @rx.event
    def set_form_limit(self, value: str):
        self.form_limit = value
        self.field_errors["limitUsd"] = ""

    @rx.event
    def set_form_alerts(self, value: str):
        self.form_alerts = value
        self.field_errors["alertPercents"] = ""

    def _budget_input(self) -> dict | None:
        """What setBudget is sent, or None with the problems shown by their fields."""
        errors: dict[str, str] = {}
        limit = self.form_limit.strip().removeprefix("$").strip()
        try:
            Decimal(limit)
        except InvalidOperation:
            errors["limitUsd"] = "Enter the limit in US dollars, like 25 or 0.50."
        try:
            percents = [int(p) for p in self.form_alerts.replace("%", "").split(",") if p.strip()]
        except ValueError:
            percents = []
            errors["alertPercents"] = "Write whole percents separated by commas, like 50, 80, 100."
        if self.form_scope == "SECTION" and not self.form_section_id:
            errors["sectionId"] = "Choose the section."
        if self.form_scope == "STUDENT" and not self.form_student_id:
            errors["studentId"] = "Choose the student."
        self.field_errors = dict.fromkeys(BUDGET_FIELDS, "") | errors
        if errors:
            return None
        chosen = {
            "SECTION": {"sectionId": self.form_section_id},
            "STUDENT": {"studentId": self.form_student_id},
        }
        return {
            "scope": self.form_scope,
            "period": self.form_period,
            "limitUsd": limit,  # a decimal string, never a float
            "alertPercents": percents,
            **chosen.get(self.form_scope, {}),
        }

    @rx.event
    async def save_budget(self, _form: dict):
        self.form_error, self.budget_notice = "", ""
        budget = self._budget_input()
        if budget is None:
            return
        self.saving = True
        yield
        reply = await self._call("AdminSetBudget", input=budget)
        self.saving = False
        if reply.failed:
            self.field_errors = reply.fields(BUDGET_FIELDS)
            if not any(self.field_errors.values()):
                self.form_error = reply.message
            yield reply.redirect
            return
        self.form_open = False
        self.budget_notice = "Budget saved."
        yield await self._load_budgets()

    # Deleting

    @rx.event
    def ask_delete(self, budget_id: str):
        budget = next((b for b in self.budgets if b.id == budget_id), None)
        if budget is not None:
            self.delete_id = budget.id
            self.delete_label = budget.name
            self.budget_notice = ""

    @rx.event
    def set_delete_open(self, open_: bool):
        if not open_:
            self.delete_id = ""

    @rx.event
    async def delete_budget(self):
        self.deleting, self.action_error = True, ""
        yield
        reply = await self._call("AdminDeleteBudget", id=self.delete_id)
        self.deleting, self.delete_id = False, ""
        if reply.failed:
            self.action_error = reply.message
            if reply.redirect:
                yield reply.redirect
                return
            yield await self._load_budgets()  # it may be gone already
            return
        self.budget_notice = f"Deleted {self.delete_label}."
        yield await self._load_budgets()

    # Rate limits

    @rx.event
    def set_limit(self, name: str, value: str):
        self.limits[name] = value
        self.limits_errors[name] = self.limits_saved = ""

    @rx.event
    async def save_limits(self, _form: dict):
        self.limits_errors = dict.fromkeys(RATE_FIELDS, "")
        self.limits_error = self.limits_saved = ""
        self.limits_saving = True
        yield
        reply = await self._call("AdminSetRateLimits", input=dict(self.limits))
        self.limits_saving = False
        if reply.failed:
            self.limits_errors = reply.fields(RATE_FIELDS)
            self.limits_error = (
                "Nothing was saved: correct the limits marked below."
                if any(self.limits_errors.values())
                else reply.message
            )
            yield reply.redirect
            return
        self._take_limits(reply.data["setRateLimits"]["rateLimits"])
        self.limits_saved = "Saved. The new limits apply from now on."

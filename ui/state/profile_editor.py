"""Writing one client profile: every field, the API's checks by the field, a preview of the
system prompt with unsaved edits applied, and a test conversation as the teacher."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import reflex as rx

from ui import routes
from ui.format import count, difficulty_text, money, readable_time
from ui.state.base import AppState, Reply

NEW = "new"
DEFAULT_MODEL = "default"  # the model select's value for "no model of its own"

# The API's input field names (its BAD_USER_INPUT `fields` keys), in the form's order.
FIELD_ORDER = (
    "name",
    "age",
    "presentingConcern",
    "background",
    "personalityTraits",
    "communicationStyle",
    "openingLine",
    "boundaries",
    "difficulty",
    "learningGoals",
    "model",
    "archived",
)
# The free-text fields: API field name -> state var.
TEXT_FIELDS = {
    "name": "name",
    "presentingConcern": "presenting_concern",
    "background": "background",
    "communicationStyle": "communication_style",
    "learningGoals": "learning_goals",
    "boundaries": "boundaries",
    "openingLine": "opening_line",
}
NO_ERRORS = {field: "" for field in FIELD_ORDER}
CHECK_POLL_SECONDS = 0.5
CHECK_GIVE_UP_SECONDS = 180.0
VERDICT_TEXT = {
    "PASS": "Passed: the client stayed in character",
    "WARN": "Passed with warnings: read the flagged replies",
    "FAIL": "Failed: the client broke character",
}
GRADE_TEXT = {"PASS": "Pass", "WARN": "Warning", "FAIL": "Fail"}


def _probe_row(probe: dict[str, Any]) -> dict[str, str]:
    return {
        "key": probe["key"],
        "label": probe["label"],
        "message": probe["message"],
        "grade": probe["grade"],
        "grade_text": GRADE_TEXT.get(probe["grade"], probe["grade"]),
        "reason": probe["reason"][:1].upper() + probe["reason"][1:],
        "excerpt": probe["excerpt"] or "(no reply)",
    }


def field_id(field: str) -> str:
    """The id of a field's control (its label points at it; errors focus it)."""
    return f"profile-{field}"


class ProfileEditorState(AppState):
    profile_id: str = ""  # empty while the profile is new
    title: str = "New client"
    loading: bool = True
    load_error: str = ""
    not_found: bool = False  # the address names no client this user may edit
    models: list[str] = []

    name: str = ""
    age: str = ""
    presenting_concern: str = ""
    background: str = ""
    traits: list[str] = []
    trait_draft: str = ""
    communication_style: str = ""
    difficulty: int = 3
    learning_goals: str = ""
    boundaries: str = ""
    opening_line: str = ""
    model: str = DEFAULT_MODEL
    archived: bool = False
    version: int = 0
    updated: str = ""
    saved_form: str = ""  # the form as last saved (JSON), to tell unsaved changes

    field_errors: dict[str, str] = NO_ERRORS
    error: str = ""  # a problem that is no one field's
    status: str = ""  # e.g. "Saved: version 4."
    saving: bool = False
    archiving: bool = False
    starting: bool = False

    preview_open: bool = False
    preview_needs_save: bool = False
    previewing: bool = False
    preview_text: str = ""
    preview_tokens: int = 0
    preview_template: int = 0

    # The client check: the newest report of this profile.
    checking: bool = False  # asked for, and still running
    check_error: str = ""
    check_status: str = ""  # "", RUNNING, DONE, FAILED
    check_verdict: str = ""
    check_verdict_text: str = ""
    check_summary: str = ""  # version, model, tokens, cost, when
    check_current: bool = True
    check_version: int = 0
    check_simulated: bool = False
    check_probes: list[dict[str, str]] = []

    _just_created: bool = False

    # --- what the page shows

    @rx.var
    def is_new(self) -> bool:
        return not self.profile_id

    @rx.var
    def dirty(self) -> bool:
        return self._form() != self.saved_form

    @rx.var
    def difficulty_value(self) -> str:
        return str(self.difficulty)

    @rx.var
    def difficulty_label(self) -> str:
        return difficulty_text(self.difficulty)

    @rx.var
    def error_summary(self) -> list[dict[str, str]]:
        return [
            {"href": f"#{field_id(field)}", "message": message}
            for field in FIELD_ORDER
            if (message := self.field_errors.get(field))
        ]

    # --- loading

    @rx.event
    async def load(self):
        if self.user_role not in ("TEACHER", "ADMIN"):
            return
        profile_id = self.router.page.params.get("profile_id", NEW)
        if self._just_created and profile_id == self.profile_id:
            self._just_created = False  # the form is already this profile, just saved
            return
        self.reset()  # this page's vars only; the sign-in stays
        yield
        if profile_id == NEW:
            reply = await self._call("ProfileEditorModels")
        else:
            reply = await self._call("ProfileEditorProfile", id=profile_id)
        if reply.failed:
            self.loading = False
            self.not_found = reply.not_found
            self.load_error = reply.message
            yield reply.redirect
            return
        data = reply.data
        self.models = data["availableModels"]
        if profile := data.get("clientProfile"):
            self._fill(profile)
            self._show_check(profile.get("lastCheck"))
        else:
            self.saved_form = self._form()
        self.loading = False

    def _fill(self, profile: dict[str, Any]):
        """The form from a profile as the API gave it."""
        self.profile_id = profile["id"]
        self.title = profile["name"]
        for field, var in TEXT_FIELDS.items():
            setattr(self, var, profile[field] or "")
        self.age = "" if profile["age"] is None else str(profile["age"])
        self.traits = list(profile["personalityTraits"])
        self.difficulty = profile["difficulty"]
        self.model = profile["model"] or DEFAULT_MODEL
        if profile["model"] and profile["model"] not in self.models:
            self.models = [*self.models, profile["model"]]
        self.archived = profile["archived"]
        self.version = profile["version"]
        self.updated = readable_time(profile["updatedAt"])
        self.saved_form = self._form()
        if self.check_status:
            self.check_current = self.check_version == self.version

    def _form(self) -> str:
        # Each var named outright: Reflex tracks `dirty`'s dependencies by reading this.
        values = [
            self.name,
            self.age,
            self.presenting_concern,
            self.background,
            self.communication_style,
            self.learning_goals,
            self.boundaries,
            self.opening_line,
            self.model,
        ]
        return json.dumps([[v.strip() for v in values], self.traits, self.difficulty])

    # --- editing

    @rx.event
    def set_field(self, field: str, value: str):
        if field == "age":
            self.age = value
        else:
            setattr(self, TEXT_FIELDS[field], value)
        self._clear_error(field)

    @rx.event
    def set_difficulty(self, value: str | list[str]):
        if value:  # the segmented control sends "" when its choice is clicked again
            self.difficulty = int(value)
            self._clear_error("difficulty")

    @rx.event
    def set_model(self, value: str):
        self.model = value
        self._clear_error("model")

    @rx.event
    def set_trait_draft(self, value: str):
        self.trait_draft = value

    @rx.event
    def add_trait(self, form: dict):
        self.trait_draft = form.get("trait", self.trait_draft)
        self._take_trait_draft()

    @rx.event
    def remove_trait(self, trait: str):
        self.traits = [t for t in self.traits if t != trait]
        self._clear_error("personalityTraits")

    def _take_trait_draft(self):
        """The trait being typed, added (commas separate several)."""
        known = {t.casefold() for t in self.traits}
        for trait in self.trait_draft.split(","):
            trait = " ".join(trait.split())
            if trait and trait.casefold() not in known:
                self.traits = [*self.traits, trait]
                known.add(trait.casefold())
        self.trait_draft = ""
        self._clear_error("personalityTraits")

    def _clear_error(self, field: str):
        if self.field_errors.get(field):
            self.field_errors = {**self.field_errors, field: ""}

    # --- checks and errors

    def _problems(self) -> dict[str, str]:
        """What the form can tell before asking the API."""
        problems = {}
        if not self.name.strip():
            problems["name"] = "Name cannot be empty."
        if not self.presenting_concern.strip():
            problems["presentingConcern"] = "Presenting concern cannot be empty."
        age = self.age.strip()
        if age and not age.isdigit():  # the range is the API's to check
            problems["age"] = "Age must be a whole number of years."
        return problems

    def _show_field_errors(self, problems: dict[str, str]):
        """Each message by its field, the first of them focused."""
        self.field_errors = {field: problems.get(field, "") for field in FIELD_ORDER}
        others = [message for field, message in problems.items() if field not in FIELD_ORDER]
        self.error = " ".join(others)
        first = next(field for field in FIELD_ORDER + tuple(problems) if problems.get(field))
        return rx.call_script(f"document.getElementById('{field_id(first)}')?.focus()")

    def _show_error(self, reply: Reply):
        if reply.redirect is not None:
            return reply.redirect
        if reply.error.code == "BAD_USER_INPUT" and reply.error.fields:
            return self._show_field_errors(reply.error.fields)
        self.error = reply.message
        return None

    def _clear_messages(self):
        self.field_errors = dict(NO_ERRORS)
        self.error = self.status = ""

    def _input(self) -> dict[str, Any]:
        """The form as the API's input; the model's "" means the default model."""
        values: dict[str, Any] = {
            field: getattr(self, var).strip() for field, var in TEXT_FIELDS.items()
        }
        values["age"] = int(self.age) if self.age.strip() else None
        values["personalityTraits"] = list(self.traits)
        values["difficulty"] = self.difficulty
        values["model"] = "" if self.model == DEFAULT_MODEL else self.model
        return values

    # --- saving

    async def _save(self) -> tuple[bool, Any]:
        """Create or update the profile from the form: (saved?, the event to return)."""
        self._clear_messages()
        self._take_trait_draft()
        if problems := self._problems():
            return False, self._show_field_errors(problems)
        creating = not self.profile_id
        if creating:
            reply = await self._call("CreateProfile", input=self._input())
        else:
            reply = await self._call("UpdateProfile", id=self.profile_id, input=self._input())
        if reply.failed:
            return False, self._show_error(reply)
        payload = reply.data["createClientProfile" if creating else "updateClientProfile"]
        self._fill(payload["clientProfile"])
        self.preview_needs_save = False
        self.status = f"Saved: version {self.version}."
        if not creating:
            return True, None
        self._just_created = True
        return True, rx.redirect(routes.profile_editor(self.profile_id), replace=True)

    @rx.event
    async def save(self):
        self.saving = True
        yield
        _, event = await self._save()
        self.saving = False
        yield event

    @rx.event
    async def set_archived(self, archived: bool):
        self._clear_messages()
        self.archiving = True
        yield
        reply = await self._call("UpdateProfile", id=self.profile_id, input={"archived": archived})
        if reply.failed:
            self.archiving = False
            yield self._show_error(reply)
            return
        profile = reply.data["updateClientProfile"]["clientProfile"]
        self.archived, self.version = profile["archived"], profile["version"]
        self.updated = readable_time(profile["updatedAt"])
        self.status = "Client archived." if self.archived else "Client restored."
        self.archiving = False

    # --- preview and test conversation

    @rx.event
    async def preview(self):
        self.preview_open = True
        self.preview_needs_save = not self.profile_id
        if self.preview_needs_save:
            return
        self._clear_messages()
        self._take_trait_draft()
        if problems := self._problems():
            yield self._show_field_errors(problems)
            return
        self.previewing = True
        yield
        yield await self._fetch_preview()

    @rx.event
    async def save_and_preview(self):
        self.saving = True
        yield
        saved, event = await self._save()
        self.saving = False
        if not saved:
            yield event
            return
        self.preview_needs_save = False
        self.previewing = True
        yield
        yield await self._fetch_preview()
        yield event

    async def _fetch_preview(self):
        reply = await self._call(
            "PreviewProfilePrompt", clientId=self.profile_id, input=self._input()
        )
        if reply.failed:
            self.previewing = False
            return self._show_error(reply)
        preview = reply.data["previewSystemPrompt"]
        self.preview_text = preview["systemPrompt"]
        self.preview_tokens = preview["estimatedTokens"]
        self.preview_template = preview["templateVersion"]
        self.previewing = False
        return None

    @rx.event
    def close_preview(self):
        self.preview_open = self.preview_needs_save = False

    @rx.event
    async def test_conversation(self):
        """Save what is unsaved, then talk to the client as a student would."""
        self.starting = True
        yield
        if not self.profile_id or self._form() != self.saved_form:
            saved, event = await self._save()
            if not saved:
                self.starting = False
                yield event
                return
        reply = await self._call("StartProfileTestSession", clientId=self.profile_id)
        if reply.failed:
            self.starting = False
            yield self._show_error(reply)
            return
        self._just_created = False
        yield rx.redirect(routes.session(reply.data["startSession"]["session"]["id"]))
        self.starting = False

    # --- the client check

    def _show_check(self, check: dict[str, Any] | None):
        if not check:
            self.check_status = ""
            self.check_probes = []
            return
        self.check_status = check["status"]
        self.check_verdict = check["verdict"] or ""
        self.check_verdict_text = VERDICT_TEXT.get(self.check_verdict, "")
        self.check_current = check["isCurrent"]
        self.check_version = check["profileVersion"]
        self.check_simulated = check["provider"] == "simulator"
        when = readable_time(check["finishedAt"] or check["createdAt"])
        self.check_summary = (
            f"Version {check['profileVersion']} · {check['model']} · "
            f"{count(check['totalTokens'])} tokens · {money(check['cost'])} · {when}"
        )
        self.check_probes = [_probe_row(probe) for probe in check["probes"]]

    @rx.event(background=True)
    async def run_check(self):
        """Save what is unsaved, start a check, and follow it until its report is in."""
        async with self:
            if self.checking or not self.profile_id:
                return
            self.checking, self.check_error = True, ""
            check, event = await self._start_check()
        if check is None:
            yield event
            return
        give_up = time.monotonic() + CHECK_GIVE_UP_SECONDS
        while check["status"] == "RUNNING" and time.monotonic() < give_up:
            await asyncio.sleep(CHECK_POLL_SECONDS)
            async with self:
                reply = await self._call("ClientCheckProgress", id=check["id"])
                if reply.failed:
                    self.checking, self.check_error = False, reply.message
                else:
                    check = reply.data["clientCheck"]
                    self._show_check(check)
            if reply.failed:
                yield reply.redirect
                return
        async with self:
            self.checking = False
            if check["status"] == "RUNNING":
                self.check_error = "The check is taking longer than expected. Reload later."
            elif check["status"] == "FAILED":
                self.check_error = "The check could not finish. Try again in a minute."

    async def _start_check(self) -> tuple[dict[str, Any] | None, Any]:
        """(the check started, None) or (None, the event that shows why not)."""
        if self._form() != self.saved_form:
            saved, event = await self._save()
            if not saved:
                self.checking = False
                return None, event
        reply = await self._call("CheckClientProfile", clientId=self.profile_id)
        if reply.failed:
            self.checking, self.check_error = False, reply.message
            return None, reply.redirect
        check = reply.data["checkClient"]["check"]
        self._show_check(check)
        return check, None

"""One client profile: every field, saving with the API's checks shown by the field, the
system prompt it makes, and a test conversation with it."""

import reflex as rx

from ui import routes
from ui.components.feedback import error_callout, loading, success_callout
from ui.components.forms import field, leave_guard, text_area, text_input
from ui.components.layout import dead_end_page, page
from ui.state.base import guard
from ui.state.profile_editor import DEFAULT_MODEL, TEXT_FIELDS, ProfileEditorState, field_id
from ui.theme import DIFFICULTY_LABELS

S = ProfileEditorState


def _error(name: str):
    return S.field_errors[name]


def _text(label: str, name: str, rows: str = "", hint: str = "", **props) -> rx.Component:
    """A free-text field of the profile (`name` is the API's field name)."""
    value = getattr(S, TEXT_FIELDS.get(name, name))
    common = dict(
        error=_error(name),
        hint=hint,
        on_change=lambda v: S.set_field(name, v),
        **props,
    )
    if rows:
        return text_area(label, field_id(name), value, rows=rows, **common)
    return text_input(label, field_id(name), value, **common)


def _section(title: str, *children) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, as_="h2", size="4"),
            *children,
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
    )


# --- the fields


def _trait_chip(trait) -> rx.Component:
    return rx.badge(
        rx.text(trait, size="2"),
        rx.icon_button(
            rx.icon("x", size=12, aria_hidden="true"),
            on_click=S.remove_trait(trait),
            aria_label=f"Remove the trait {trait}",
            size="1",
            variant="ghost",
            radius="full",
        ),
        size="2",
        variant="soft",
        radius="full",
        padding_y="0.25rem",
    )


def _traits() -> rx.Component:
    control = rx.vstack(
        rx.cond(
            S.traits.length() > 0,
            rx.flex(rx.foreach(S.traits, _trait_chip), wrap="wrap", spacing="2"),
            rx.text("No traits yet.", size="2", color_scheme="gray"),
        ),
        rx.form(
            rx.hstack(
                rx.input(
                    id=field_id("personalityTraits"),
                    name="trait",
                    value=S.trait_draft,
                    on_change=S.set_trait_draft,
                    placeholder="e.g. guarded",
                    aria_describedby="profile-personalityTraits-hint "
                    "profile-personalityTraits-error",
                    aria_invalid=rx.cond(_error("personalityTraits"), "true", "false"),
                    flex="1",
                ),
                rx.button("Add", type="submit", variant="soft"),
                width="100%",
            ),
            on_submit=S.add_trait,
            width="100%",
        ),
        spacing="2",
        width="100%",
    )
    return field(
        "Personality traits",
        field_id("personalityTraits"),
        control,
        error=_error("personalityTraits"),
        hint="Type a trait, then press Enter or Add. Separate several with commas.",
    )


def _difficulty() -> rx.Component:
    control = rx.vstack(
        rx.segmented_control.root(
            *[
                rx.segmented_control.item(
                    # A phone has room for the numbers only; the label names the choice.
                    rx.text(label, display=rx.breakpoints(initial="none", sm="inline")),
                    rx.text(str(level), display=rx.breakpoints(initial="inline", sm="none")),
                    value=str(level),
                    aria_label=label,
                )
                for level, label in DIFFICULTY_LABELS.items()
            ],
            value=S.difficulty_value,
            on_change=S.set_difficulty,
            id=field_id("difficulty"),
            aria_label="Difficulty",
            size=rx.breakpoints(initial="1", sm="2"),
            width="100%",
        ),
        rx.text(
            "Selected: ",
            rx.text(S.difficulty_label, as_="span", weight="bold"),
            size="2",
            aria_live="polite",
        ),
        spacing="2",
        width="100%",
    )
    return field(
        "Difficulty",
        field_id("difficulty"),
        control,
        error=_error("difficulty"),
        hint="How hard the client is to talk to: Gentle clients open up readily, Very hard "
        "ones resist, test and push back.",
    )


def _model() -> rx.Component:
    control = rx.select.root(
        rx.select.trigger(id=field_id("model"), width="100%"),
        rx.select.content(
            rx.select.item("Default model", value=DEFAULT_MODEL),
            rx.foreach(S.models, lambda model: rx.select.item(model, value=model)),
        ),
        value=S.model,
        on_change=S.set_model,
    )
    return field(
        "Model",
        field_id("model"),
        control,
        error=_error("model"),
        hint="The AI model that plays this client. Default uses Practicum's standard model.",
    )


def _form() -> rx.Component:
    return rx.vstack(
        _section(
            "About the client",
            rx.grid(
                _text("Name", "name", required=True, auto_complete="off"),
                _text(
                    "Age",
                    "age",
                    hint="Optional, in years.",
                    type="number",
                    min="1",
                    max="120",
                    input_mode="numeric",
                ),
                columns=rx.breakpoints(initial="1", sm="minmax(0, 1fr) 9rem"),
                spacing="4",
                width="100%",
            ),
            _text(
                "Presenting concern",
                "presentingConcern",
                rows="3",
                required=True,
                hint="What brings them to the conversation, in a sentence or two.",
            ),
            _text("Background", "background", rows="4", hint="Their life, work and circumstances."),
        ),
        _section(
            "How they come across",
            _traits(),
            _text(
                "Communication style",
                "communicationStyle",
                rows="3",
                hint="How they talk: long stories, short answers, humour, silences…",
            ),
            _text(
                "Opening line",
                "openingLine",
                rows="2",
                hint="The first thing the client says in a practice session.",
            ),
            _text(
                "Boundaries",
                "boundaries",
                rows="3",
                hint="Topics the client avoids or only opens up about later. Only you and "
                "admins see this.",
            ),
        ),
        _section(
            "The practice",
            _difficulty(),
            _text(
                "Learning goals",
                "learningGoals",
                rows="3",
                hint="What students should practise with this client.",
            ),
            _model(),
        ),
        spacing="4",
        width="100%",
    )


def _archive() -> rx.Component:
    return _section(
        "Archive",
        rx.cond(
            S.archived,
            rx.text(
                "This client is archived: hidden from your list, from new assignments and "
                "from students. Past transcripts stay.",
                size="2",
            ),
            rx.text(
                "Archive a client you no longer use. It disappears from your list, from new "
                "assignments and from students; past transcripts stay. You can restore it.",
                size="2",
            ),
        ),
        rx.cond(
            S.archived,
            rx.button(
                rx.icon("archive-restore", size=16, aria_hidden="true"),
                "Restore client",
                on_click=S.set_archived(False),
                loading=S.archiving,
                variant="soft",
            ),
            rx.button(
                rx.icon("archive", size=16, aria_hidden="true"),
                "Archive client",
                on_click=S.set_archived(True),
                loading=S.archiving,
                variant="soft",
                color_scheme="gray",
            ),
        ),
    )


# --- saving, preview, test conversation


def _error_summary() -> rx.Component:
    return rx.cond(
        S.error_summary.length() > 0,
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle_alert")),
            rx.callout.text("Not saved yet: please check these fields.", weight="bold"),
            rx.el.ul(
                rx.foreach(
                    S.error_summary,
                    lambda item: rx.el.li(
                        rx.link(item["message"], href=item["href"], color_scheme="red")
                    ),
                ),
                style={"margin": "0", "padding_left": "1.25rem", "font_size": "var(--font-size-2)"},
            ),
            color_scheme="red",
            id="profile-errors",
            width="100%",
        ),
    )


def _status_badges() -> rx.Component:
    return rx.flex(
        rx.cond(
            S.is_new,
            rx.badge("Not saved yet", color_scheme="gray"),
            rx.badge(f"Version {S.version}", data_testid="profile-version"),
        ),
        rx.cond(S.archived, rx.badge("Archived", color_scheme="gray")),
        rx.cond(S.dirty, rx.badge("Unsaved changes", color_scheme="amber", high_contrast=True)),
        wrap="wrap",
        spacing="2",
    )


def _actions() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Save and try", as_="h2", size="4"),
            _status_badges(),
            rx.cond(
                ~S.is_new,
                rx.text(f"Last saved {S.updated}", size="1", color_scheme="gray"),
            ),
            success_callout(S.status),
            error_callout(S.error),
            rx.button(
                rx.icon("save", size=16, aria_hidden="true"),
                "Save",
                on_click=S.save,
                loading=S.saving,
                disabled=~(S.is_new | S.dirty),
                size="3",
                width="100%",
            ),
            rx.button(
                rx.icon("file-text", size=16, aria_hidden="true"),
                "Preview system prompt",
                on_click=S.preview,
                loading=S.previewing,
                variant="soft",
                width="100%",
            ),
            rx.button(
                rx.icon("messages-square", size=16, aria_hidden="true"),
                "Test conversation",
                on_click=S.test_conversation,
                loading=S.starting,
                disabled=S.archived,
                variant="outline",
                width="100%",
            ),
            rx.text(
                rx.cond(
                    S.archived,
                    "Restore this client to try a conversation with it.",
                    "Saves your changes, then opens a practice session with this client, "
                    "with you as the student.",
                ),
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _preview_body() -> rx.Component:
    return rx.cond(
        S.preview_needs_save,
        rx.vstack(
            rx.text("Save this client first: the preview is built from a saved profile.", size="2"),
            rx.button("Save and preview", on_click=S.save_and_preview, loading=S.saving),
            spacing="3",
        ),
        rx.cond(
            S.previewing,
            loading("Building the system prompt…"),
            rx.vstack(
                rx.text(
                    f"About {S.preview_tokens} tokens · template version {S.preview_template}",
                    rx.cond(S.dirty, " · includes your unsaved changes", ""),
                    size="1",
                    color_scheme="gray",
                ),
                rx.el.pre(
                    S.preview_text,
                    tab_index=0,
                    role="region",
                    aria_label="System prompt",
                    data_testid="prompt-preview",
                    style={
                        "font_family": "var(--code-font-family)",
                        "font_size": "var(--font-size-1)",
                        "line_height": "1.5",
                        "white_space": "pre-wrap",
                        "overflow_wrap": "anywhere",
                        "margin": "0",
                        "padding": "0.75rem",
                        "max_height": "min(32rem, 60vh)",
                        "overflow_y": "auto",
                        "width": "100%",
                        "background_color": rx.color("gray", 2),
                        "border": f"1px solid {rx.color('gray', 5)}",
                        "border_radius": "var(--radius-3)",
                    },
                ),
                spacing="2",
                width="100%",
            ),
        ),
    )


def _preview() -> rx.Component:
    return rx.cond(
        S.preview_open,
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("System prompt", as_="h2", size="4"),
                    rx.spacer(),
                    rx.icon_button(
                        rx.icon("x", size=16, aria_hidden="true"),
                        on_click=S.close_preview,
                        aria_label="Close the preview",
                        variant="ghost",
                    ),
                    align="center",
                    width="100%",
                ),
                _preview_body(),
                spacing="3",
                width="100%",
            ),
            size="3",
            width="100%",
        ),
    )


# --- the client check


def _grade_badge(grade, text) -> rx.Component:
    return rx.badge(
        text,
        color_scheme=rx.match(grade, ("PASS", "green"), ("WARN", "amber"), "red"),
        high_contrast=True,
        size="2",
    )


def _probe(probe) -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.flex(
                rx.text(probe["label"], weight="bold", size="2"),
                _grade_badge(probe["grade"], probe["grade_text"]),
                justify="between",
                align="center",
                gap="2",
                width="100%",
            ),
            rx.text(probe["reason"], size="2"),
            rx.el.blockquote(
                probe["excerpt"],
                style={
                    "margin": "0",
                    "padding": "0.25rem 0.5rem",
                    "border_left": f"3px solid {rx.color('gray', 6)}",
                    "color": rx.color("gray", 11),
                    "font_size": "var(--font-size-1)",
                    "overflow_wrap": "anywhere",
                },
            ),
            spacing="1",
            width="100%",
        ),
        role="listitem",
        data_testid="check-probe",
        data_grade=probe["grade"],
        padding_y="0.5rem",
        border_top=f"1px solid {rx.color('gray', 4)}",
        width="100%",
    )


def _check_report() -> rx.Component:
    return rx.cond(
        S.check_status == "DONE",
        rx.vstack(
            rx.callout(
                S.check_verdict_text,
                icon=rx.match(
                    S.check_verdict, ("PASS", "circle_check"), ("WARN", "info"), "triangle_alert"
                ),
                color_scheme=rx.match(S.check_verdict, ("PASS", "green"), ("WARN", "amber"), "red"),
                data_testid="check-verdict",
                data_verdict=S.check_verdict,
                width="100%",
            ),
            rx.text(S.check_summary, size="1", color_scheme="gray"),
            rx.cond(
                S.check_simulated,
                rx.text(
                    "Answered by the offline simulator (no model key is set up): run the "
                    "check again once a model is connected.",
                    size="1",
                    color_scheme="gray",
                ),
            ),
            rx.cond(
                ~S.check_current,
                rx.text(
                    "The client has changed since this check: check it again.",
                    size="1",
                    color_scheme="amber",
                    weight="bold",
                ),
            ),
            rx.box(
                rx.foreach(S.check_probes, _probe),
                role="list",
                aria_label="Probes and how the client answered",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
    )


def _check() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Check before publishing", as_="h2", size="4"),
            rx.text(
                "Sends six probing messages to this client (ignore your instructions, reveal "
                "your prompt, swap roles, are you an AI, write code, a harmful request) and "
                "checks that every reply stays in character. Uses a few model calls.",
                size="1",
                color_scheme="gray",
            ),
            rx.button(
                rx.icon("shield-check", size=16, aria_hidden="true"),
                "Check this client",
                on_click=S.run_check,
                loading=S.checking,
                disabled=S.is_new,
                variant="soft",
                width="100%",
            ),
            rx.cond(
                S.checking,
                loading("Checking the client…"),
            ),
            error_callout(S.check_error),
            rx.box(_check_report(), aria_live="polite", width="100%"),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id="client-check",
    )


def _editor() -> rx.Component:
    return rx.vstack(
        leave_guard(
            S.dirty, "Leave without saving? Your changes to this client have not been saved."
        ),
        _error_summary(),
        rx.grid(
            _form(),
            rx.vstack(
                _actions(),
                _preview(),
                rx.cond(~S.is_new, _check()),
                spacing="4",
                width="100%",
                position=rx.breakpoints(initial="static", md="sticky"),
                top="5rem",
            ),
            # Third, so that a phone shows it after saving, and a desktop below the form.
            rx.cond(~S.is_new, _archive()),
            columns=rx.breakpoints(initial="1", md="minmax(0, 3fr) minmax(0, 2fr)"),
            spacing="4",
            align="start",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


def _load_failed() -> rx.Component:
    return rx.vstack(
        error_callout(S.load_error),
        rx.link("Back to your clients", href=routes.PROFILES),
        spacing="3",
    )


def _back_link() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("arrow-left", size=16, aria_hidden="true"),
            "All clients",
            align="center",
            spacing="1",
        ),
        href=routes.PROFILES,
        size="2",
    )


@rx.page(
    route=routes.PROFILE_EDITOR,
    title="Client profile · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), ProfileEditorState.load],
)
def profile_editor() -> rx.Component:
    return rx.cond(
        S.not_found,
        dead_end_page(
            "Client not found",
            "There is no client at this address that you can edit. The link may be mistyped, "
            "or the client may belong to another teacher.",
            "Go to all clients",
            routes.PROFILES,
        ),
        _page(),
    )


def _page() -> rx.Component:
    return page(
        S.title,
        rx.cond(
            S.loading,
            loading("Loading the client…"),
            rx.cond(S.load_error, _load_failed(), _editor()),
        ),
        actions=_back_link(),
    )

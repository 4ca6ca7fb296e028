"""Teachers' client profiles: every client they wrote, each opening the editor."""

import reflex as rx

from ui import routes
from ui.components.badges import difficulty_badge
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.layout import page
from ui.state.base import guard
from ui.state.profiles import ProfileRow, ProfilesState

NEW_PROFILE = routes.profile_editor("new")
CLAMP_3_LINES = {
    "display": "-webkit-box",
    "-webkit-line-clamp": "3",
    "-webkit-box-orient": "vertical",
    "overflow": "hidden",
}


def _new_button(size: str = "2") -> rx.Component:
    return rx.button(
        rx.link(
            rx.icon("plus", size=16, aria_hidden="true"),
            "New client",
            href=NEW_PROFILE,
            underline="none",
            color="var(--accent-contrast)",
        ),
        as_child=True,
        size=size,
    )


def _meta(icon: str, text) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=14, color=rx.color("gray", 10), aria_hidden="true"),
        rx.text(text, size="1", color_scheme="gray"),
        align="center",
        spacing="1",
    )


def _card(row: ProfileRow) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading(row.name, as_="h2", size="4", trim="both"),
                    rx.spacer(),
                    rx.cond(row.archived, rx.badge("Archived", color_scheme="gray")),
                    align="start",
                    width="100%",
                ),
                difficulty_badge(row.difficulty_text, row.difficulty, size="1"),
                rx.text(row.presenting_concern, size="2", style=CLAMP_3_LINES),
                rx.spacer(),
                rx.flex(
                    _meta("cpu", row.model),
                    _meta("git-commit-horizontal", f"Version {row.version}"),
                    _meta("calendar", f"Updated {row.updated}"),
                    rx.cond(ProfilesState.user_role == "ADMIN", _meta("user", row.owner)),
                    wrap="wrap",
                    column_gap="1rem",
                    row_gap="0.25rem",
                ),
                spacing="2",
                height="100%",
                align="start",
            ),
            height="100%",
            size="2",
            _hover={"background_color": rx.color("accent", 2)},
        ),
        href=f"{routes.PROFILES}/{row.id}",
        underline="none",
        color=rx.color("gray", 12),
        _hover={"color": rx.color("gray", 12)},
        height="100%",
        data_testid="profile-card",
    )


def _toolbar() -> rx.Component:
    return rx.text(
        rx.flex(
            rx.switch(
                checked=ProfilesState.show_archived, on_change=ProfilesState.set_show_archived
            ),
            "Show archived",
            spacing="2",
            align="center",
        ),
        as_="label",
        size="2",
    )


def _list() -> rx.Component:
    return rx.vstack(
        rx.grid(
            rx.foreach(ProfilesState.rows, _card),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="3",
            width="100%",
        ),
        rx.cond(
            ProfilesState.has_more,
            rx.button(
                "Load more",
                on_click=ProfilesState.load_more,
                loading=ProfilesState.loading_more,
                variant="soft",
            ),
        ),
        align="center",
        spacing="4",
        width="100%",
    )


def _empty() -> rx.Component:
    return rx.cond(
        ~ProfilesState.has_archived,
        empty_state(
            "No clients yet",
            "Clients are the people your students practise with. Write your first one: "
            "who they are, what brings them, and how hard they are to talk to.",
            icon="user-round-plus",
            action=_new_button(),
        ),
        empty_state(
            "No active clients",
            "Write a new client, or switch on “Show archived” to see the ones you archived.",
            icon="user-round-plus",
            action=_new_button(),
        ),
    )


@rx.page(
    route=routes.PROFILES,
    title="Clients · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), ProfilesState.load],
)
def profiles() -> rx.Component:
    return page(
        "Clients",
        rx.text(
            "The simulated clients your students practise with. Open one to edit it, preview "
            "its system prompt or try a conversation.",
            color_scheme="gray",
        ),
        _toolbar(),
        error_callout(ProfilesState.error),
        rx.cond(
            ProfilesState.loading,
            loading("Loading your clients…"),
            rx.cond(ProfilesState.rows.length() > 0, _list(), _empty()),
        ),
        actions=_new_button(),
    )

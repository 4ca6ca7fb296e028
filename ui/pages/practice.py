"""Practice: the clients a student may practise with, from the assignments of their
sections; start or resume a session, or join a section."""

import reflex as rx

from ui import routes
from ui.components.badges import difficulty_badge
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.forms import text_input
from ui.components.layout import page
from ui.state.base import guard
from ui.state.practice import PracticeClient, PracticeState

P = PracticeState


@rx.page(
    route=routes.PRACTICE,
    title="Practise · Practicum",
    on_load=[guard("STUDENT"), P.open],
)
def practice() -> rx.Component:
    return page(
        "Practise",
        rx.text(
            "Choose a client and hold a practice conversation. "
            "Each session is kept, with its transcript, in My sessions.",
            color_scheme="gray",
        ),
        error_callout(P.error),
        success_callout(P.joined),
        rx.cond(
            P.loading,
            loading("Loading your clients…"),
            rx.cond(
                P.clients.length() > 0,
                rx.fragment(
                    rx.grid(
                        rx.foreach(P.clients, _client_card),
                        columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                        spacing="4",
                        width="100%",
                    ),
                    _join_form("Join another section"),
                ),
                rx.fragment(
                    empty_state(
                        "No clients to practise with yet",
                        "Clients appear here once your teacher publishes an assignment in "
                        "one of your sections. Have a join code? Enter it below.",
                        icon="users",
                    ),
                    _join_form("Join a section"),
                ),
            ),
        ),
    )


def _client_card(client: PracticeClient) -> rx.Component:
    resuming = client.active_session != ""
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading(client.name, as_="h2", size="4"),
                difficulty_badge(client.difficulty, client.level),
                justify="between",
                align="start",
                spacing="2",
                wrap="wrap",
                width="100%",
            ),
            rx.text(client.concern, size="2"),
            rx.cond(
                client.assignment != "",
                rx.hstack(
                    rx.icon(
                        "clipboard-list",
                        size=16,
                        color=rx.color("gray", 10),
                        aria_hidden="true",
                        flex_shrink="0",
                        margin_top="0.125rem",
                    ),
                    rx.text(client.assignment, size="1", color_scheme="gray"),
                    align="start",
                    spacing="2",
                ),
            ),
            rx.spacer(),
            rx.cond(
                resuming,
                rx.button(
                    rx.link(
                        rx.icon("play", size=16, aria_hidden="true"),
                        "Resume",
                        href=routes.session(client.active_session),
                        aria_label="Resume your session with " + client.name,
                    ),
                    as_child=True,
                    variant="soft",
                    width="100%",
                ),
                rx.button(
                    rx.icon("message-square-plus", size=16, aria_hidden="true"),
                    "Start practice",
                    on_click=P.start(client.id, client.assignment_id),
                    loading=P.starting == client.id,
                    aria_label="Start practice with " + client.name,
                    width="100%",
                ),
            ),
            spacing="3",
            height="100%",
        ),
        data_testid="client-card",
        height="100%",
    )


def _join_form(title: str) -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(title, as_="h2", size="3"),
                rx.flex(
                    rx.box(
                        text_input(
                            "Join code",
                            "join_code",
                            P.join_code,
                            P.set_join_code,
                            error=P.join_error,
                            hint="Your teacher gives each section a join code.",
                            auto_complete="off",
                        ),
                        flex="1",
                        min_width="12rem",
                    ),
                    rx.button(
                        "Join", type="submit", loading=P.joining, size="2", margin_top="1.6rem"
                    ),
                    spacing="3",
                    align="start",
                    wrap="wrap",
                    width="100%",
                ),
                spacing="2",
                width="100%",
            ),
            on_submit=P.join,
        ),
        width="100%",
        max_width="32rem",
    )

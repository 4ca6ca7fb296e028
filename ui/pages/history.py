"""History: a student's past practice sessions, each with its transcript."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.layout import page
from ui.state.base import guard
from ui.state.history import HistoryState, PastSession

H = HistoryState


@rx.page(
    route=routes.HISTORY,
    title="My sessions · Practicum",
    on_load=[guard("STUDENT"), H.load],
)
def history() -> rx.Component:
    return page(
        "My sessions",
        error_callout(H.error),
        rx.cond(
            H.loading,
            loading("Loading your sessions…"),
            rx.cond(
                H.sessions.length() > 0,
                rx.vstack(
                    rx.foreach(H.sessions, _session_row),
                    rx.cond(
                        H.has_more,
                        rx.button(
                            "Load more",
                            on_click=H.load_more,
                            loading=H.loading_more,
                            variant="soft",
                            align_self="center",
                        ),
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    H.error == "",
                    empty_state(
                        "No practice sessions yet",
                        "Your sessions and their transcripts appear here once you start one.",
                        icon="history",
                        action=rx.button(
                            rx.link("Choose a client to practise with", href=routes.PRACTICE),
                            as_child=True,
                        ),
                    ),
                ),
            ),
        ),
    )


def _session_row(item: PastSession) -> rx.Component:
    active = item.status == "ACTIVE"
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.flex(
                    rx.heading(
                        rx.link(item.client, href=routes.transcript(item.id), high_contrast=True),
                        as_="h2",
                        size="3",
                    ),
                    rx.badge(item.difficulty, color_scheme="gray", variant="soft"),
                    rx.badge(
                        item.status_label,
                        color_scheme=rx.cond(active, "green", "gray"),
                        variant=rx.cond(active, "soft", "surface"),
                        high_contrast=True,
                    ),
                    align="center",
                    spacing="2",
                    wrap="wrap",
                ),
                rx.text(
                    "Started ",
                    item.started,
                    " · ",
                    item.messages,
                    rx.cond(item.messages == 1, " message", " messages"),
                    rx.cond(item.assignment != "", " · " + item.assignment, ""),
                    size="2",
                    color_scheme="gray",
                ),
                rx.text(
                    rx.cond(
                        item.rating > 0,
                        "Your rating: " + item.rating.to_string() + "/5",
                        rx.cond(active, "", "Not rated"),
                    ),
                    size="2",
                    data_testid="session-rating",
                ),
                spacing="1",
                align="start",
            ),
            rx.flex(
                rx.cond(
                    active,
                    rx.button(
                        rx.link(
                            "Resume",
                            href=routes.session(item.id),
                            aria_label="Resume your session with " + item.client,
                        ),
                        as_child=True,
                        size="2",
                    ),
                ),
                rx.button(
                    rx.link(
                        "Transcript",
                        href=routes.transcript(item.id),
                        aria_label="Transcript of your session with " + item.client,
                    ),
                    as_child=True,
                    size="2",
                    variant="soft",
                ),
                spacing="2",
                align="center",
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
        data_testid="history-row",
    )

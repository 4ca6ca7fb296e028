"""The chat: a practice session with a client (students), or a test conversation with a
profile (teachers, admins)."""

import reflex as rx

from ui import routes
from ui.components.badges import difficulty_badge
from ui.components.chat import message_list
from ui.components.feedback import error_callout, loading
from ui.components.forms import field_error
from ui.components.layout import page
from ui.state.base import guard
from ui.state.session import DRAFT, MESSAGE_BOX, RATING_LABELS, SessionState
from ui.theme import READING_MAX_WIDTH

S = SessionState


@rx.page(
    route=routes.SESSION,
    title="Practice session · Practicum",
    on_load=[guard("STUDENT", "TEACHER", "ADMIN"), S.load],
)
def session() -> rx.Component:
    return page(
        rx.cond(S.loading | (S.client_name == ""), "Practice session", S.client_name),
        rx.cond(
            S.loading,
            loading("Loading the conversation…"),
            rx.cond(S.load_error, _not_found(), _chat()),
        ),
        max_width=READING_MAX_WIDTH,
        actions=rx.cond(S.can_send, _end_dialog()),
    )


def _not_found() -> rx.Component:
    return rx.vstack(
        error_callout(S.load_error),
        rx.link(
            rx.cond(S.user_role == "STUDENT", "Back to your clients", "Back to your start page"),
            href=S.home,
        ),
        spacing="3",
    )


def _chat() -> rx.Component:
    return rx.fragment(
        _details(),
        rx.cond(
            ~S.is_own,
            rx.callout(
                rx.text(
                    "You are viewing ",
                    S.student_name,
                    "'s session. Only the student can send messages.",
                ),
                icon="eye",
                color_scheme="gray",
            ),
        ),
        rx.cond(
            S.reconnecting,
            rx.callout(
                "The live connection dropped. Reconnecting… Nothing you sent is lost.",
                icon="wifi-off",
                color_scheme="amber",
                role="status",
            ),
        ),
        rx.cond(S.ended, rx.cond(S.asks_feedback, _feedback_form(), _ended())),
        rx.cond(
            S.can_send,
            _messages(
                height=rx.breakpoints(initial="calc(100dvh - 29rem)", sm="calc(100dvh - 26rem)"),
                min_height="12rem",
            ),
            _messages(max_height="36rem"),
        ),
        _failure(),
        rx.cond(S.can_send, _composer()),
    )


def _messages(**props) -> rx.Component:
    return message_list(
        S.messages, S.client_name, S.student_label, S.reply_text, S.streaming, _empty(), **props
    )


def _details() -> rx.Component:
    return rx.flex(
        difficulty_badge(S.difficulty, S.level),
        rx.cond(
            S.is_simulator,
            rx.badge(
                rx.icon("cpu", size=14, aria_hidden="true"),
                "Offline simulator — no AI model is used",
                color_scheme="violet",
                variant="soft",
                size="2",
                data_testid="simulator-label",
            ),
            rx.badge("Model: ", S.model, color_scheme="gray", variant="soft", size="2"),
        ),
        rx.cond(S.ended, rx.badge("Ended", color_scheme="gray", size="2")),
        rx.spacer(),
        rx.text(
            S.totals,
            size="1",
            color_scheme="gray",
            title="Tokens used and estimated cost of this session so far",
            data_testid="session-totals",
        ),
        align="center",
        spacing="2",
        wrap="wrap",
        width="100%",
    )


def _empty() -> rx.Component:
    return rx.vstack(
        rx.icon("message-circle", size=28, color=rx.color("gray", 9), aria_hidden="true"),
        rx.text("Start the conversation", weight="bold"),
        rx.text(
            "Greet ",
            S.client_name,
            " and invite them to talk. ",
            rx.cond(S.concern != "", rx.text("What brings them: ", S.concern, as_="span")),
            color_scheme="gray",
            size="2",
            align="center",
        ),
        align="center",
        spacing="1",
        padding="2rem 1rem",
        width="100%",
    )


def _failure() -> rx.Component:
    return rx.cond(
        S.failed_id != "",
        rx.callout(
            rx.flex(
                rx.text(S.failed_reason),
                rx.cond(
                    S.failed_retryable,
                    rx.button(
                        rx.icon("rotate-ccw", size=16, aria_hidden="true"),
                        "Retry",
                        on_click=S.retry,
                        loading=S.retrying,
                        size="2",
                        color_scheme="red",
                    ),
                ),
                align="center",
                justify="between",
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            icon="triangle_alert",
            color_scheme="red",
            role="alert",
            width="100%",
        ),
    )


def _composer() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.label(
                "Your message",
                html_for=MESSAGE_BOX,
                style={"font_weight": "500", "font_size": "var(--font-size-2)"},
            ),
            rx.el.input(type="hidden", name=DRAFT, value=S.draft_id),
            rx.text_area(
                id=MESSAGE_BOX,
                name=MESSAGE_BOX,
                enter_key_submit=True,
                rows="3",
                placeholder="Write your message…",
                aria_describedby=f"{MESSAGE_BOX}-hint {MESSAGE_BOX}-error",
                aria_invalid=rx.cond(S.content_error, "true", "false"),
                width="100%",
                size="3",
                resize="vertical",
            ),
            field_error(S.content_error, MESSAGE_BOX),
            error_callout(S.error),
            rx.flex(
                rx.text(
                    "Enter sends · Shift+Enter starts a new line",
                    id=f"{MESSAGE_BOX}-hint",
                    size="1",
                    color_scheme="gray",
                ),
                rx.spacer(),
                rx.cond(
                    S.streaming,
                    rx.button(
                        rx.icon("square", size=14, aria_hidden="true"),
                        "Stop",
                        type="button",
                        on_click=S.stop,
                        loading=S.stopping,
                        variant="soft",
                        color_scheme="gray",
                        size="3",
                    ),
                ),
                rx.button(
                    rx.icon("send", size=16, aria_hidden="true"),
                    "Send",
                    type="submit",
                    loading=S.sending,
                    size="3",
                ),
                align="center",
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=S.send,
        width="100%",
    )


def _end_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button("End session", color_scheme="red", variant="soft", loading=S.ending),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("End this practice session?"),
            rx.alert_dialog.description(
                "You will not be able to send more messages in it. The transcript is kept."
            ),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button("Keep practising", variant="soft", color_scheme="gray"),
                ),
                rx.alert_dialog.action(
                    rx.button("End session", color_scheme="red", on_click=S.end),
                ),
                spacing="3",
                justify="end",
                wrap="wrap",
                margin_top="1rem",
            ),
            max_width="28rem",
        ),
    )


def _feedback_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("How useful was this practice session?", as_="h2", size="4"),
                rx.text(
                    "Your rating helps your teacher improve the clients.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.radio_group.root(
                    rx.flex(
                        *[
                            rx.el.label(
                                rx.radio_group.item(value=value),
                                rx.text(f"{value} · {label}", size="2"),
                                style={
                                    "display": "flex",
                                    "align_items": "center",
                                    "gap": "0.375rem",
                                    "cursor": "pointer",
                                },
                            )
                            for value, label in RATING_LABELS.items()
                        ],
                        spacing="4",
                        wrap="wrap",
                    ),
                    value=S.rating,
                    on_change=S.set_rating,
                    name="rating",
                    aria_label="Rating from 1 (poor) to 5 (excellent)",
                ),
                field_error(S.rating_error),
                rx.el.label(
                    "Comment (optional)",
                    html_for="comment",
                    style={"font_weight": "500", "font_size": "var(--font-size-2)"},
                ),
                rx.text_area(
                    id="comment",
                    name="comment",
                    value=S.comment,
                    on_change=S.set_comment,
                    rows="3",
                    width="100%",
                    placeholder="What went well, what was hard?",
                ),
                rx.flex(
                    rx.button("Send feedback", type="submit", loading=S.rating_saving),
                    rx.link("Skip and read the transcript", href=routes.transcript(S.shown_id)),
                    align="center",
                    spacing="4",
                    wrap="wrap",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=S.rate,
        ),
        width="100%",
    )


def _ended() -> rx.Component:
    thanked = S.rated & S.is_own & (S.user_role == "STUDENT")
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("circle-check", color=rx.color("accent", 10), aria_hidden="true"),
                rx.heading(
                    rx.cond(
                        thanked,
                        "Thank you for your feedback.",
                        "This practice session has ended.",
                    ),
                    as_="h2",
                    size="4",
                ),
                align="center",
            ),
            rx.flex(
                rx.link("Read the transcript", href=routes.transcript(S.shown_id)),
                rx.cond(
                    S.user_role == "STUDENT",
                    rx.link("Practise again", href=routes.PRACTICE),
                    rx.cond(
                        S.user_role == "TEACHER",
                        rx.link(
                            "Back to the client profile", href=routes.profile_editor(S.client_id)
                        ),
                    ),
                ),
                spacing="4",
                wrap="wrap",
            ),
            spacing="3",
        ),
        width="100%",
        role="status",
    )

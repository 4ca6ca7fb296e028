"""The chat: a practice session with a client (students), or a test conversation with a
profile (teachers, admins)."""

import reflex as rx

from ui import routes
from ui.components.badges import difficulty_badge
from ui.components.chat import CHAT_SCRIPT, message_list
from ui.components.feedback import error_callout, loading
from ui.components.forms import field_error
from ui.components.layout import dead_end_page, page
from ui.state.base import guard
from ui.state.session import DRAFT, MESSAGE_BOX, RATING_LABELS, SessionState
from ui.theme import READING_MAX_WIDTH, VISUALLY_HIDDEN

S = SessionState


# The chat fills the screen below the navigation: the conversation grows, the page scrolls,
# and the composer stays at the bottom of the screen. (Scoped to the page that holds a chat.)
CHAT_LAYOUT = """
div:has(> #main [data-chat]) { display: flex; flex-direction: column; }
#main:has([data-chat]) { flex: 1; display: flex; flex-direction: column; padding-bottom: 0; }
#main:has([data-chat]) > :last-child, [data-chat] { flex: 1; }
@media (max-width: 30em) {
  #main:has([data-chat]) { padding-top: 0.5rem; }
  #main:has([data-chat]) h1 { font-size: var(--font-size-5); }
  #main:has([data-chat]) > :last-child { margin-top: 0.5rem; }
}
"""
PHONE_ONLY = ["flex", "none"]
NOT_ON_PHONES = ["none", "flex"]


@rx.page(
    route=routes.SESSION,
    title="Practice session · Practicum",
    on_load=[guard("STUDENT", "TEACHER", "ADMIN"), S.load],
)
def session() -> rx.Component:
    return rx.cond(
        S.not_found,
        dead_end_page(
            "Conversation not found",
            "There is no practice session at this address that you can open. The link may be "
            "mistyped, or the session may belong to someone else.",
            rx.cond(S.user_role == "STUDENT", "Go to your clients", "Go to your start page"),
            S.home,
        ),
        _page(),
    )


def _page() -> rx.Component:
    return page(
        rx.cond(
            S.loading | (S.client_name == ""),
            "Practice session",
            # One line on a phone: a long name is cut short, the buttons stay beside it.
            rx.el.span(
                S.client_name,
                display="block",
                overflow="hidden",
                text_overflow="ellipsis",
                white_space="nowrap",
                max_width=["calc(100vw - 10rem)", "none"],
            ),
        ),
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
    return rx.flex(
        rx.el.style(CHAT_LAYOUT),
        rx.script(CHAT_SCRIPT),
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
        _phone_notice(),
        message_list(
            S.messages,
            S.client_name,
            S.student_label,
            S.reply_text,
            S.streaming,
            _empty(),
            flex_grow="1",
        ),
        _failure(),
        rx.cond(S.can_send, _composer()),
        data_chat=True,
        direction="column",
        spacing="4",
        width="100%",
    )


def _simulator_badge() -> rx.Component:
    return rx.badge(
        rx.icon("cpu", size=14, aria_hidden="true"),
        "Offline simulator — no AI model is used",
        color_scheme="violet",
        variant="soft",
        size="2",
        data_testid="simulator-label",
    )


def _phone_notice() -> rx.Component:
    """On a phone, where the details are left out: who plays the client, as a chat app
    shows a notice, at the top of the conversation."""
    return rx.cond(
        S.is_simulator,
        rx.flex(
            rx.badge(
                rx.icon("cpu", size=12, aria_hidden="true"),
                "Offline simulator — no AI model is used",
                color_scheme="violet",
                variant="soft",
                size="1",
            ),
            display=PHONE_ONLY,
            justify="center",
            width="100%",
        ),
    )


def _details() -> rx.Component:
    """The client's difficulty, the model and (for teachers and admins) tokens and cost;
    left out on a phone, where the conversation needs the screen."""
    return rx.flex(
        difficulty_badge(S.difficulty, S.level),
        rx.cond(
            S.is_simulator,
            _simulator_badge(),
            rx.badge("Model: ", S.model, color_scheme="gray", variant="soft", size="2"),
        ),
        rx.cond(S.ended, rx.badge("Ended", color_scheme="gray", size="2")),
        rx.spacer(),
        rx.cond(
            S.user_role != "STUDENT",
            rx.text(
                S.totals,
                size="1",
                color_scheme="gray",
                title="Tokens used and estimated cost of this session so far",
                data_testid="session-totals",
            ),
        ),
        display=NOT_ON_PHONES,
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


def _send_or_stop() -> rx.Component:
    """Send; while the client answers, Stop in its place."""
    return rx.cond(
        S.streaming,
        rx.button(
            # filled, and with its word even on a phone: a hollow square reads as a checkbox
            rx.icon("square", size=14, fill="currentColor", aria_hidden="true"),
            rx.text("Stop", as_="span"),
            type="button",
            on_click=S.stop,
            loading=S.stopping,
            aria_label="Stop",
            color_scheme="gray",
            high_contrast=True,
            size="3",
        ),
        rx.button(
            rx.icon("send", size=16, aria_hidden="true"),
            rx.text("Send", as_="span", display=["none", "inline"]),
            type="submit",
            loading=S.sending,
            aria_label="Send",
            size="3",
        ),
    )


def _composer() -> rx.Component:
    return rx.box(
        rx.form(
            rx.vstack(
                field_error(S.content_error, MESSAGE_BOX),
                error_callout(S.error),
                rx.cond(
                    S.waiting,
                    rx.callout(
                        S.client_name + " is still answering. Your message waits in the box: "
                        "send it when the reply is done, or stop the reply.",
                        icon="hourglass",
                        color_scheme="gray",
                        role="status",
                        size="1",
                        width="100%",
                    ),
                ),
                rx.el.input(type="hidden", name=DRAFT, value=S.draft_id),
                rx.el.label("Your message", html_for=MESSAGE_BOX, style=VISUALLY_HIDDEN),
                rx.flex(
                    rx.text_area(
                        id=MESSAGE_BOX,
                        name=MESSAGE_BOX,
                        enter_key_submit=True,
                        rows="1",
                        placeholder="Message " + S.client_name + "…",
                        aria_describedby=f"{MESSAGE_BOX}-hint {MESSAGE_BOX}-error",
                        aria_invalid=rx.cond(S.content_error, "true", "false"),
                        data_session=S.shown_id,
                        resize="none",
                        size="3",
                        flex_grow="1",
                        # Grows with its text, up to a third of the screen, then scrolls.
                        min_height="0",
                        style={
                            "& textarea": {
                                "field_sizing": "content",
                                "min_height": "2.5rem",
                                "max_height": "33dvh",
                            }
                        },
                    ),
                    _send_or_stop(),
                    align="end",
                    spacing="2",
                    width="100%",
                ),
                rx.text(
                    "Enter sends · Shift+Enter starts a new line",
                    id=f"{MESSAGE_BOX}-hint",
                    size="1",
                    color_scheme="gray",
                    display=["none", "block"],
                ),
                spacing="2",
                width="100%",
            ),
            on_submit=S.send,
            width="100%",
        ),
        position="sticky",
        bottom="0",
        z_index="1",
        background_color="var(--color-background)",
        padding_top="0.75rem",
        padding_bottom=["0.75rem", "1rem"],
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

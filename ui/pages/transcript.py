"""A session's transcript: every message with its time, the model, status and the
student's feedback. Students read their own conversation (without tokens and cost, which are
for teachers and admins); teachers and admins review it with its tokens and cost."""

import reflex as rx

from ui import routes
from ui.components.chat import chat_bubble
from ui.components.feedback import error_callout, loading
from ui.components.layout import dead_end_page, page
from ui.components.review import feedback_panel
from ui.state.base import guard
from ui.state.review import ReviewState
from ui.state.transcript import TranscriptState
from ui.theme import READING_MAX_WIDTH

T = TranscriptState


@rx.page(
    route=routes.TRANSCRIPT,
    title="Transcript · Practicum",
    on_load=[guard("STUDENT", "TEACHER", "ADMIN"), T.load, ReviewState.load_review],
)
def transcript() -> rx.Component:
    return rx.cond(T.not_found, _not_found(), _page())


def _not_found() -> rx.Component:
    return dead_end_page(
        "Transcript not found",
        "There is no practice session at this address that you can see. The link may be "
        "mistyped, or the session may belong to someone else.",
        rx.cond(T.user_role == "STUDENT", "Go to my sessions", "Go to the transcripts"),
        rx.cond(T.user_role == "STUDENT", routes.HISTORY, routes.TEACHER_SESSIONS),
    )


def _page() -> rx.Component:
    return page(
        rx.cond(T.loading | (T.client_name == ""), "Transcript", "Session with " + T.client_name),
        _back_link(),
        rx.cond(
            T.loading,
            loading("Loading the transcript…"),
            rx.cond(T.error, error_callout(T.error), _transcript()),
        ),
        max_width=READING_MAX_WIDTH,
        actions=rx.cond(
            T.can_resume,
            rx.button(
                rx.link("Resume the session", href=routes.session(T.shown_id)), as_child=True
            ),
        ),
    )


def _back_link() -> rx.Component:
    return rx.cond(
        T.user_role == "STUDENT",
        rx.link("← My sessions", href=routes.HISTORY, size="2"),
        rx.link("← Transcripts", href=routes.TEACHER_SESSIONS, size="2"),
    )


def _item(label: str, value) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="8rem"),
        rx.data_list.value(value),
    )


def _transcript() -> rx.Component:
    return rx.fragment(
        rx.cond(
            T.user_role == "STUDENT",
            _students_summary(),
            rx.grid(
                _summary(),
                _usage(),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
        ),
        _feedback(),
        feedback_panel(),
        rx.heading("Conversation", as_="h2", size="5", margin_top="0.5rem"),
        rx.el.style(TARGET_STYLE),
        rx.cond(
            T.messages.length() > 0,
            rx.vstack(
                rx.foreach(T.messages, _message),
                spacing="3",
                width="100%",
            ),
            rx.text("No messages were sent in this session.", color_scheme="gray"),
        ),
    )


# A message the feedback links to (#message-3) is marked when the link is followed.
TARGET_STYLE = """
.transcript-message { scroll-margin-top: 5rem; border-radius: 0.75rem; }
.transcript-message:target { outline: 3px solid var(--accent-8); outline-offset: 4px; }
"""


def _message(m) -> rx.Component:
    return rx.box(
        chat_bubble(m, T.client_name, T.student_label, full_time=True),
        rx.cond(
            ReviewState.reviewer,
            rx.button(
                "Comment",
                on_click=ReviewState.comment_on(m.seq),
                variant="ghost",
                size="1",
                aria_label="Comment on message " + m.seq.to_string(),
                margin_top="0.25rem",
            ),
        ),
        id="message-" + m.seq.to_string(),
        class_name="transcript-message",
        width="100%",
    )


def _status_badge() -> rx.Component:
    return rx.badge(
        T.status_label,
        color_scheme=rx.cond(T.status == "ACTIVE", "green", "gray"),
        high_contrast=True,
    )


def _students_summary() -> rx.Component:
    """The student's own session in a line or two: the client, the status, when."""
    return rx.flex(
        rx.badge(T.difficulty, color_scheme="gray", variant="soft", high_contrast=True),
        _status_badge(),
        rx.cond(T.is_simulator, rx.badge("Offline simulator", color_scheme="violet")),
        rx.text(
            rx.cond(T.assignment != "", T.assignment + " · ", ""),
            "Started ",
            T.started,
            rx.cond(T.ended_at != "", " · ended " + T.ended_at, ""),
            size="2",
            color_scheme="gray",
        ),
        align="center",
        spacing="2",
        wrap="wrap",
        width="100%",
        data_testid="transcript-summary",
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.heading("Session", as_="h2", size="3", margin_bottom="0.75rem"),
        rx.data_list.root(
            rx.cond(T.user_role != "STUDENT", _item("Student", T.student_name)),
            _item("Client", T.client_name + " (" + T.difficulty + ")"),
            rx.cond(T.assignment != "", _item("Assignment", T.assignment)),
            _item("Started", T.started),
            _item("Ended", rx.cond(T.ended_at != "", T.ended_at, "Not yet")),
            _item("Status", _status_badge()),
            _item(
                "Model",
                rx.text(
                    T.model,
                    rx.cond(T.is_simulator, " (offline simulator, no AI model)", ""),
                ),
            ),
            _item("Messages", T.message_count),
            size="2",
            orientation="horizontal",
        ),
        width="100%",
    )


def _usage() -> rx.Component:
    return rx.card(
        rx.heading("Tokens and cost", as_="h2", size="3", margin_bottom="0.75rem"),
        rx.data_list.root(
            _item("Input", T.input_tokens),
            _item("Output", T.output_tokens),
            _item("Cache write", T.cache_write_tokens),
            _item("Cache read", T.cache_read_tokens),
            _item("Total tokens", T.total_tokens),
            _item("Estimated cost", rx.text(T.estimated_cost, data_testid="transcript-cost")),
            size="2",
            orientation="horizontal",
        ),
        width="100%",
    )


def _feedback() -> rx.Component:
    return rx.card(
        rx.heading(
            rx.cond(T.user_role == "STUDENT", "Your rating", "Student's rating"),
            as_="h2",
            size="3",
            margin_bottom="0.5rem",
        ),
        rx.cond(
            T.rating > 0,
            rx.vstack(
                rx.text(
                    "Rating: ",
                    rx.text(T.rating, "/5", as_="span", weight="bold"),
                    " · ",
                    T.rated_at,
                    size="2",
                    data_testid="transcript-rating",
                ),
                rx.cond(T.comment != "", rx.blockquote(T.comment, size="2")),
                spacing="2",
            ),
            rx.text("The session was not rated.", size="2", color_scheme="gray"),
        ),
        width="100%",
    )

"""The feedback panel beside a transcript: scores per criterion with their evidence,
strengths, next steps, measures and comments; for teachers, the review controls."""

from __future__ import annotations

import reflex as rx

from ui import routes
from ui.components.feedback import error_callout
from ui.state.review import WHOLE_SESSION, CommentRow, ReviewState, ScoreRow

R = ReviewState


def _label() -> rx.Component:
    return rx.callout(
        R.label,
        icon=rx.cond(R.evaluator == "OFFLINE", "cpu", "sparkles"),
        color_scheme=rx.cond(R.evaluator == "OFFLINE", "violet", "amber"),
        size="1",
        data_testid="feedback-label",
    )


def _evidence(row: ScoreRow) -> rx.Component:
    return rx.foreach(
        R.evidence,
        lambda e: rx.cond(
            e.key == row.key,
            rx.text(
                rx.link(
                    "Message " + e.seq.to_string(),
                    href=e.href,
                    data_testid="evidence-link",
                ),
                ": “",
                e.quote,
                "”",
                size="2",
                color_scheme="gray",
            ),
        ),
    )


def _level_picker(row: ScoreRow) -> rx.Component:
    return rx.flex(
        rx.select.root(
            rx.select.trigger(aria_label="Level for " + row.name, width="100%"),
            rx.select.content(
                rx.foreach(
                    R.level_options,
                    lambda o: rx.cond(o.key == row.key, rx.select.item(o.label, value=o.value)),
                ),
                position="popper",
            ),
            value=row.chosen,
            on_change=lambda value: R.adjust(row.key, value),
        ),
        rx.cond(
            row.adjusted,
            rx.button(
                "Use the evaluator's",
                on_click=R.reset_level(row.key),
                variant="ghost",
                size="1",
            ),
        ),
        direction="column",
        spacing="1",
        width="100%",
        max_width="22rem",
    )


def _score(row: ScoreRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.text(row.name, weight="bold"),
                rx.badge(
                    row.level_text,
                    color_scheme=rx.cond(row.adjusted, "blue", "gray"),
                    high_contrast=True,
                    size="2",
                    data_testid="criterion-level",
                ),
                justify="between",
                align="center",
                width="100%",
                gap="2",
            ),
            rx.cond(
                row.adjusted,
                rx.text(row.adjusted_note, size="1", color_scheme="blue"),
            ),
            rx.text(row.justification, size="2"),
            _evidence(row),
            rx.cond(R.reviewer, _level_picker(row)),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="criterion-score",
        data_criterion=row.key,
    )


def _list(title: str, items, testid: str) -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.box(
            rx.heading(title, as_="h3", size="3", margin_bottom="0.25rem"),
            rx.el.ul(
                rx.foreach(items, lambda x: rx.el.li(rx.text(x, size="2"))),
                padding_left="1.25rem",
            ),
            data_testid=testid,
            width="100%",
        ),
    )


def _measures() -> rx.Component:
    return rx.cond(
        R.measures.length() > 0,
        rx.box(
            rx.heading("Conversation measures", as_="h3", size="3", margin_bottom="0.25rem"),
            rx.grid(
                rx.foreach(
                    R.measures,
                    lambda m: rx.vstack(
                        rx.text(m.label, size="1", color_scheme="gray"),
                        rx.text(m.value, size="2", weight="medium"),
                        spacing="0",
                    ),
                ),
                columns=rx.breakpoints(initial="2", sm="4"),
                spacing="3",
                width="100%",
            ),
            rx.text("Counted from the transcript, without a model.", size="1", color_scheme="gray"),
            width="100%",
            data_testid="measures",
        ),
    )


def _release_controls() -> rx.Component:
    return rx.flex(
        rx.cond(
            R.released,
            rx.fragment(
                rx.badge(
                    "Released to the student · " + R.released_at,
                    color_scheme="green",
                    high_contrast=True,
                    data_testid="released-badge",
                ),
                rx.button(
                    "Withdraw",
                    on_click=R.release(False),
                    variant="soft",
                    color_scheme="gray",
                    size="2",
                    loading=R.saving,
                ),
            ),
            rx.fragment(
                rx.badge("Not released yet", color_scheme="gray"),
                rx.button(
                    "Release to the student",
                    on_click=R.release(True),
                    size="2",
                    loading=R.saving,
                ),
            ),
        ),
        rx.cond(
            R.auto_release,
            rx.text(
                "This assignment releases feedback when it is ready.",
                size="1",
                color_scheme="gray",
            ),
        ),
        spacing="3",
        align="center",
        wrap="wrap",
    )


def _feedback_body() -> rx.Component:
    return rx.vstack(
        _label(),
        rx.flex(
            rx.cond(R.rubric_name != "", rx.text("Rubric: ", R.rubric_name, size="2")),
            rx.cond(
                R.overall != "",
                rx.text(
                    "Overall: ",
                    rx.text(R.overall, as_="span", weight="bold"),
                    size="2",
                    data_testid="overall-score",
                ),
            ),
            rx.cond(
                R.reviewer & (R.evaluation_cost != ""),
                rx.text("Evaluation cost: ", R.evaluation_cost, size="2", color_scheme="gray"),
            ),
            spacing="4",
            wrap="wrap",
        ),
        rx.cond(R.reviewer, _release_controls()),
        rx.foreach(R.scores, _score),
        _list("Strengths", R.strengths, "strengths"),
        _list("Next steps", R.next_steps, "next-steps"),
        spacing="3",
        width="100%",
    )


def _comment(row: CommentRow) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.text(row.author, weight="bold", size="2"),
            rx.cond(
                row.seq > 0,
                rx.link("on message " + row.seq.to_string(), href=row.href, size="2"),
                rx.text("on the whole session", size="2", color_scheme="gray"),
            ),
            rx.text(row.time, size="1", color_scheme="gray"),
            rx.cond(
                row.mine,
                rx.button(
                    "Remove",
                    on_click=R.delete_comment(row.id),
                    variant="ghost",
                    color_scheme="red",
                    size="1",
                ),
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.text(row.body, size="2", white_space="pre-wrap"),
        padding="0.5rem 0.75rem",
        border_left=f"3px solid {rx.color('accent', 8)}",
        width="100%",
        data_testid="review-comment",
    )


def _comment_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.label("Add a comment", html_for="review-comment", font_weight="500"),
            rx.text_area(
                id="review-comment",
                name="body",
                value=R.comment_text,
                on_change=R.set_comment_text,
                placeholder="What went well, what to try next…",
                rows="3",
                width="100%",
            ),
            rx.cond(
                R.comment_error != "",
                rx.text(R.comment_error, color_scheme="red", size="2", role="alert"),
            ),
            rx.flex(
                rx.select.root(
                    rx.select.trigger(aria_label="Comment on"),
                    rx.select.content(
                        rx.select.item("The whole session", value=WHOLE_SESSION),
                        rx.foreach(
                            R.message_seqs,
                            lambda n: rx.select.item("Message " + n, value=n),
                        ),
                        position="popper",
                    ),
                    value=R.comment_target,
                    on_change=R.set_comment_target,
                ),
                rx.button("Add comment", type="submit", loading=R.saving),
                spacing="2",
                wrap="wrap",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=R.add_comment,
        width="100%",
    )


def _comments() -> rx.Component:
    return rx.vstack(
        rx.heading("Teacher comments", as_="h3", size="3"),
        rx.cond(
            R.comments.length() > 0,
            rx.vstack(rx.foreach(R.comments, _comment), spacing="2", width="100%"),
            rx.text("No comments yet.", size="2", color_scheme="gray"),
        ),
        rx.cond(R.reviewer, _comment_form()),
        spacing="2",
        width="100%",
    )


def _status() -> rx.Component:
    return rx.cond(
        R.in_progress,
        rx.flex(
            rx.spinner(size="2"),
            rx.text(R.status_text, size="2"),
            spacing="2",
            align="center",
            role="status",
            data_testid="feedback-progress",
        ),
        rx.cond(
            R.evaluation_status == "FAILED",
            rx.callout(
                rx.text(R.status_text, " ", rx.cond(R.reviewer, R.evaluation_error, "")),
                icon="triangle-alert",
                color_scheme="red",
                size="1",
            ),
        ),
    )


def _none_yet() -> rx.Component:
    return rx.text(
        rx.cond(
            R.reviewer,
            rx.cond(
                R.session_status == "ACTIVE",
                "Feedback is written once the session ends.",
                "No feedback yet. Attach a rubric to the assignment, or ask for feedback now.",
            ),
            "Your teacher has not released feedback on this session yet.",
        ),
        size="2",
        color_scheme="gray",
        data_testid="no-feedback",
    )


def _exports() -> rx.Component:
    return rx.flex(
        rx.text("Download:", size="2", color_scheme="gray"),
        rx.button(
            rx.icon("file-text", size=14),
            "Markdown",
            on_click=R.export("MARKDOWN"),
            variant="soft",
            size="1",
        ),
        rx.button(
            rx.icon("braces", size=14), "JSON", on_click=R.export("JSON"), variant="soft", size="1"
        ),
        spacing="2",
        align="center",
        wrap="wrap",
    )


def feedback_panel() -> rx.Component:
    """The whole feedback card (placed on the transcript page)."""
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading("Feedback", as_="h2", size="4"),
                rx.flex(
                    rx.cond(
                        R.can_evaluate,
                        rx.button(
                            rx.cond(R.has_feedback, "Evaluate again", "Ask for feedback"),
                            on_click=R.evaluate,
                            variant="soft",
                            size="1",
                            loading=R.saving,
                        ),
                    ),
                    rx.cond(
                        R.user_role == "STUDENT",
                        rx.link("My progress", href=routes.PROGRESS, size="2"),
                    ),
                    spacing="3",
                    align="center",
                ),
                justify="between",
                align="center",
                width="100%",
                wrap="wrap",
            ),
            error_callout(R.action_error),
            error_callout(R.review_error),
            _status(),
            rx.cond(R.has_feedback, _feedback_body(), rx.cond(R.in_progress, "", _none_yet())),
            _measures(),
            _comments(),
            _exports(),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="feedback-panel",
    )

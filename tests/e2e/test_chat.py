"""The chat as a chat app: the composer grows with its text and stays at the bottom of the
screen, Send turns into Stop while the client answers, the page follows the newest message,
an unsent draft survives a reload, a phone's header is one line, and students see their
conversation without tokens or cost. At desktop and phone width."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from api.conversations.models import Message, MessageRole, MessageStatus
from tests.e2e import test_student
from tests.e2e.app import DemoApi
from tests.e2e.conftest import SCREENSHOTS, screenshot
from tests.e2e.test_admin_dashboard import _write
from tests.e2e.test_student import FIRST_MESSAGE, _messages, _reply_done, _send

# The student tests' fixtures: the demo teacher, and a talkative client of their own.
teacher, talkative_client = test_student.teacher, test_student.talkative_client

WIDTHS = pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])


def _width(phone: bool) -> str:
    return "phone" if phone else "desktop"


def _session_with(app_url: str, who: str, client_name: str) -> str:
    """A new session of `who` with the client named `client_name`: its id."""
    api = DemoApi.signed_in(app_url, who)
    clients = api.data("{ clientProfiles(first: 100) { nodes { id name } } }")
    client = next(c for c in clients["clientProfiles"]["nodes"] if c["name"] == client_name)
    start = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }"
    return api.data(start, c=client["id"])["startSession"]["session"]["id"]


def _open_chat(open_page, app_url: str, session_id: str, phone: bool, who="student") -> Page:
    page = open_page(who, phone=phone)
    page.goto(f"{app_url}/practice/{session_id}")
    expect(page.get_by_label("Your message")).to_be_visible()
    return page


@WIDTHS
def test_send_turns_into_stop_while_the_client_answers(open_page, app_url, talkative_client, phone):
    page = _open_chat(
        open_page, app_url, _session_with(app_url, "student", talkative_client), phone
    )
    send, stop = (page.get_by_role("button", name=n, exact=True) for n in ("Send", "Stop"))
    expect(send).to_be_visible()
    expect(stop).to_have_count(0)

    _send(page, FIRST_MESSAGE)
    expect(page.get_by_test_id("streaming-text")).not_to_be_empty()
    expect(stop).to_be_visible()
    # A filled square with its word, even on a phone: a hollow one reads as a checkbox.
    expect(stop).to_have_text("Stop")
    assert stop.locator("svg").evaluate("icon => getComputedStyle(icon).fill") != "none"
    expect(send).to_have_count(0)
    screenshot(page, f"chat-streaming-{_width(phone)}")

    # Enter while the client answers: the message waits in the box, with a word on why; the
    # word goes when the reply is over, and Send is back.
    _send(page, "Take your time.")
    waiting = page.get_by_role("status").filter(has_text="still answering")
    expect(waiting).to_be_visible()
    expect(page.get_by_label("Your message")).to_have_value("Take your time.")
    _reply_done(page)
    expect(page.get_by_text("still answering")).to_have_count(0)
    expect(send).to_be_visible()
    expect(stop).to_have_count(0)
    page.get_by_label("Your message").press("Enter")
    expect(_messages(page, "USER").filter(has_text="Take your time.")).to_have_count(1)
    stop.click()
    _reply_done(page)
    expect(_messages(page, "ASSISTANT").last).to_have_attribute("data-status", "CANCELLED")
    expect(send).to_be_visible()


@WIDTHS
def test_an_unsent_draft_survives_a_reload_per_session(open_page, app_url, talkative_client, phone):
    first = _session_with(app_url, "student", talkative_client)
    second = _session_with(app_url, "student", "Daniel Reyes")  # one active session a client
    page = _open_chat(open_page, app_url, first, phone)
    box = page.get_by_label("Your message")
    box.press_sequentially("I was about to say")
    page.reload()
    expect(box).to_have_value("I was about to say")

    page.goto(f"{app_url}/practice/{second}")
    expect(box).to_be_visible()
    page.wait_for_timeout(300)
    expect(box).to_have_value("")
    page.goto(f"{app_url}/practice/{first}")
    expect(box).to_have_value("I was about to say")

    box.press("Enter")  # sent: the draft is gone
    expect(_messages(page, "USER")).to_have_count(1)
    expect(box).to_have_value("")
    page.reload()
    expect(_messages(page, "USER")).to_have_count(1)
    page.wait_for_timeout(300)
    expect(box).to_have_value("")


@WIDTHS
def test_the_composer_grows_with_its_text_and_stays_at_the_bottom(
    open_page, app_url, talkative_client, phone
):
    page = _open_chat(
        open_page, app_url, _session_with(app_url, "student", talkative_client), phone
    )
    box = page.get_by_label("Your message")
    assert box.evaluate("e => getComputedStyle(e).resize") == "none"
    one_line = box.bounding_box()["height"]
    viewport = page.viewport_size["height"]
    assert viewport - (box.bounding_box()["y"] + one_line) < 80, "the composer is not at the bottom"
    box.fill("One\nTwo\nThree\nFour")
    four_lines = box.bounding_box()["height"]
    assert four_lines > one_line * 2, (one_line, four_lines)

    # A long conversation: the newest message stays in view, the composer at the bottom.
    box.fill("")
    for sent, text in enumerate(("How has the move?", "And the new job?", "What do you miss?")):
        _send(page, "\n".join([text] * 10))  # tall messages: the page outgrows the screen
        expect(_messages(page, "USER")).to_have_count(sent + 1)
        _reply_done(page)
    expect(_messages(page, "ASSISTANT").last).to_be_in_viewport()
    expect(box).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollHeight") > viewport
    # Scrolled up to read while a reply streams in: the page stays there.
    _send(page, "Tell me more.")
    expect(page.get_by_test_id("streaming-text")).not_to_be_empty()
    page.mouse.wheel(0, -5000)
    page.wait_for_timeout(300)
    assert page.evaluate("window.scrollY") < 50
    page.wait_for_timeout(700)
    assert page.evaluate("window.scrollY") < 50
    _reply_done(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_timeout(300)
    page.screenshot(path=SCREENSHOTS / f"chat-long-{_width(phone)}.png")  # as on the screen


def test_on_a_phone_the_chat_header_is_one_line(open_page, app_url, talkative_client):
    page = _open_chat(
        open_page, app_url, _session_with(app_url, "student", talkative_client), phone=True
    )
    title = page.get_by_role("heading", level=1)
    end = page.get_by_role("button", name="End session")
    expect(title).to_contain_text(talkative_client)
    notice = page.get_by_text("Offline simulator — no AI model is used")
    expect(notice.locator("visible=true")).to_be_visible()
    title_box, end_box = title.bounding_box(), end.bounding_box()
    assert abs(title_box["y"] + title_box["height"] / 2 - end_box["y"] - end_box["height"] / 2) < 8
    conversation = page.get_by_role("region", name="Conversation")
    assert conversation.bounding_box()["y"] < 160, "the conversation starts too far down"
    screenshot(page, "chat-empty-phone")


@WIDTHS
def test_students_see_their_conversation_without_tokens_or_cost(
    open_page, app_url, talkative_client, phone
):
    session_id = _session_with(app_url, "student", talkative_client)
    page = _open_chat(open_page, app_url, session_id, phone)
    _send(page, FIRST_MESSAGE)
    _reply_done(page)
    expect(page.get_by_test_id("session-totals")).to_have_count(0)
    main = page.get_by_role("main")
    expect(main).not_to_contain_text(re.compile(r"tokens|\$\d", re.IGNORECASE))

    page.goto(f"{app_url}/transcripts/{session_id}")
    expect(page.get_by_test_id("message")).to_have_count(2)
    expect(page.get_by_test_id("transcript-summary")).to_contain_text("Active")
    expect(page.get_by_test_id("transcript-cost")).to_have_count(0)
    expect(main).not_to_contain_text(re.compile(r"tokens|\$\d", re.IGNORECASE))
    expect(page.get_by_test_id("message").first).to_be_in_viewport()
    screenshot(page, f"student-transcript-no-cost-{_width(phone)}")

    # Teachers still see them, in the chat and the transcript.
    teacher_page = open_page("teacher", phone=phone)
    teacher_page.goto(f"{app_url}/transcripts/{session_id}")
    expect(teacher_page.get_by_test_id("transcript-cost")).to_have_text(re.compile(r"^\$\d"))
    teacher_page.goto(f"{app_url}/practice/{session_id}")
    totals = teacher_page.get_by_test_id("session-totals")
    if phone:
        expect(totals).to_have_count(0)  # the phone's chat leaves the details out
    else:
        expect(totals).to_have_text(re.compile(r"^[1-9][\d,]* tokens · \$\d"))


@WIDTHS
def test_a_transcript_shows_an_unfinished_reply_as_not_yet_written(
    open_page, app_url, app_server, phone
):
    session_id = DemoApi.signed_in(app_url, "student2").start_session(new=True)
    now = datetime.now(UTC)
    _write(  # a reply still being written, as the transcript's reader finds it
        app_server.data_dir / "practicum.db",
        [
            Message(
                session_id=uuid.UUID(session_id),
                sequence_number=101,
                role=MessageRole.USER,
                content="Hello.",
                created_at=now,
            ),
            Message(
                session_id=uuid.UUID(session_id),
                sequence_number=102,
                role=MessageRole.ASSISTANT,
                status=MessageStatus.STREAMING,
                created_at=now,
                streaming_since=now,
            ),
        ],
    )
    page = open_page("admin", phone=phone)
    page.goto(f"{app_url}/transcripts/{session_id}")
    reply = page.get_by_test_id("message").filter(has_text="No reply")
    expect(reply).to_contain_text("No reply yet")
    expect(reply).not_to_contain_text("Writing…")
    screenshot(page, f"transcript-unfinished-reply-{_width(phone)}")

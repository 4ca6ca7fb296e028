"""A student practises: chooses a client, sees the reply stream in, stops one, keeps what
they typed when a message is refused, ends and rates the session, and finds it again in
their history and its transcript. Teachers open the same chat and transcript."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app import DemoApi
from tests.e2e.conftest import screenshot

FIRST_MESSAGE = "Hello, I'm glad you came. What brings you here today?"


def _talkative_client(teacher: DemoApi) -> tuple[str, str]:
    """A client of our own (so no other test shares its sessions) who answers at length,
    so that a reply streams long enough to be watched and stopped: (id, name)."""
    name = f"Jordan Talker {uuid.uuid4().hex[:6]}"
    profile = {
        "name": name,
        "presentingConcern": "Feels overwhelmed by a new job and a house move.",
        "age": 34,
        "background": "Moved to a new city for work three months ago. Lives with a partner "
        "and a dog. Misses old friends and the weekly football game.",
        "personalityTraits": ["warm", "talkative", "reflective"],
        "communicationStyle": "Talkative; tells long, detailed stories.",
        "difficulty": 1,
        "openingLine": "Thanks for seeing me. There is a lot going on, so I hope you have time.",
    }
    create = (
        "mutation($i: CreateClientProfileInput!) "
        "{ createClientProfile(input: $i) { clientProfile { id } } }"
    )
    data = teacher.data(create, i=profile)
    return data["createClientProfile"]["clientProfile"]["id"], name


@pytest.fixture(scope="module")
def teacher(app_url: str) -> DemoApi:
    return DemoApi.signed_in(app_url, "teacher")


@pytest.fixture
def talkative_client(teacher: DemoApi) -> str:
    """A talkative client in a published assignment of the demo section; its name."""
    client_id, name = _talkative_client(teacher)
    section = teacher.data("{ sections { nodes { id } } }")["sections"]["nodes"][0]["id"]
    assignment = {
        "sectionId": section,
        "title": f"Talk it through {name[-6:]}",
        "clientProfileIds": [client_id],
        "dueAt": "2030-01-15T17:00:00Z",
    }
    create = (
        "mutation($i: CreateAssignmentInput!) { createAssignment(input: $i) { assignment { id } } }"
    )
    assignment_id = teacher.data(create, i=assignment)["createAssignment"]["assignment"]["id"]
    publish = "mutation($id: ID!) { publishAssignment(id: $id) { assignment { id } } }"
    teacher.data(publish, id=assignment_id)
    return name


def _card(page: Page, name: str):
    return page.get_by_test_id("client-card").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )


def _start(page: Page, name: str) -> str:
    """Start practice with `name` from the practice page; the session's id."""
    expect(page).to_have_url(re.compile(r"/practice/?$"))
    _card(page, name).get_by_role("button", name=re.compile("Start practice")).click()
    expect(page).to_have_url(re.compile(r"/practice/[0-9a-f-]{36}$"))
    expect(page.get_by_label("Your message")).to_be_visible()
    return page.url.rsplit("/", 1)[-1]


def _messages(page: Page, role: str):
    return page.locator(f"[data-testid=message][data-role={role}]")


def _send(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def _reply_done(page: Page) -> None:
    expect(page.get_by_test_id("streaming-reply")).to_have_count(0, timeout=30_000)


def _growing_reply(page: Page) -> tuple[str, str]:
    """The streaming reply read twice, the second time once it has grown."""
    reply = page.get_by_test_id("streaming-text")
    expect(reply).not_to_be_empty()
    first = reply.inner_text()
    deadline = time.monotonic() + 10
    later = first
    while len(later) <= len(first) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
        later = reply.inner_text(timeout=2_000)
    return first, later


def test_a_student_practises_sees_the_reply_stream_stops_one_ends_and_rates(
    open_page, app_url, talkative_client
):
    page = open_page("student")
    card = _card(page, talkative_client)
    expect(card).to_contain_text("Gentle · 1/5")
    expect(card).to_contain_text("Feels overwhelmed by a new job")
    expect(card).to_contain_text("due 15 Jan 2030")
    screenshot(page, "student-practice-desktop")
    session_id = _start(page, talkative_client)
    expect(page.get_by_test_id("simulator-label")).to_have_text(
        "Offline simulator — no AI model is used"
    )
    expect(page.get_by_text("Start the conversation")).to_be_visible()

    _send(page, FIRST_MESSAGE)
    expect(_messages(page, "USER").last).to_contain_text(FIRST_MESSAGE)
    expect(page.get_by_label("Your message")).to_have_value("")
    first, later = _growing_reply(page)
    assert later.startswith(first) and len(later) > len(first), (first, later)
    _reply_done(page)
    completed = _messages(page, "ASSISTANT").last
    expect(completed).to_have_attribute("data-status", "COMPLETE")
    expect(completed).to_contain_text(later)

    # Shift+Enter starts a new line; Enter then sends both lines as one message.
    box = page.get_by_label("Your message")
    box.fill("Line one")
    box.press("Shift+Enter")
    box.press_sequentially("Line two")
    expect(box).to_have_value("Line one\nLine two")
    expect(_messages(page, "USER")).to_have_count(1)
    box.press("Enter")
    expect(_messages(page, "USER")).to_have_count(2)
    assert _messages(page, "USER").last.get_by_text("Line one").inner_text() == (
        "Line one\nLine two"
    )

    # Stop: the reply so far stays, marked as stopped.
    expect(page.get_by_test_id("streaming-text")).not_to_be_empty()
    page.get_by_role("button", name="Stop").click()
    _reply_done(page)
    stopped = _messages(page, "ASSISTANT").last
    expect(stopped).to_have_attribute("data-status", "CANCELLED")
    expect(stopped.get_by_text("Stopped")).to_be_visible()
    expect(stopped).to_contain_text(re.compile(r"\w+"))
    screenshot(page, "student-chat-desktop")
    messages_in_chat = page.get_by_test_id("message").count()

    page.get_by_role("button", name="End session").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("End this practice session?")
    dialog.get_by_role("button", name="End session").click()
    feedback = page.get_by_role("heading", name="How useful was this practice session?")
    expect(feedback).to_be_visible()
    expect(page.get_by_label("Your message")).to_have_count(0)
    screenshot(page, "student-chat-feedback-desktop")
    page.get_by_role("radio", name="4 · Very good").click()
    page.get_by_label("Comment (optional)").fill("Hard to get a word in, but useful.")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()

    page.get_by_role("link", name="Read the transcript").click()
    expect(page).to_have_url(re.compile(rf"/transcripts/{session_id}$"))
    expect(page.get_by_test_id("transcript-rating")).to_contain_text("4/5")
    expect(page.get_by_text("Hard to get a word in, but useful.")).to_be_visible()
    expect(page.get_by_test_id("message")).to_have_count(messages_in_chat)
    expect(page.get_by_test_id("message").first).to_contain_text(FIRST_MESSAGE)
    expect(page.locator("[data-testid=message][data-status=CANCELLED]")).to_have_count(1)
    screenshot(page, "student-transcript-desktop")

    page.get_by_role("link", name="My sessions").first.click()
    row = page.get_by_test_id("history-row").filter(
        has=page.locator(f"a[href='/transcripts/{session_id}']")
    )
    expect(row.first).to_contain_text(talkative_client)
    expect(row.first).to_contain_text("Ended")
    expect(row.first.get_by_test_id("session-rating")).to_have_text("Your rating: 4/5")
    screenshot(page, "student-history-desktop")

    teacher = open_page("teacher")
    teacher.goto(f"{app_url}/transcripts/{session_id}")
    expect(teacher.get_by_role("definition").filter(has_text="Sam Student")).to_be_visible()
    expect(teacher.get_by_test_id("message")).to_have_count(messages_in_chat)
    expect(_messages(teacher, "USER").first.get_by_text("Sam Student", exact=True)).to_be_visible()
    expect(teacher.get_by_test_id("transcript-cost")).to_have_text(re.compile(r"^\$\d"))
    screenshot(teacher, "student-transcript-teacher-desktop")


def test_a_refused_message_stays_in_the_box_with_the_reason(open_page, talkative_client):
    page = open_page("student")
    _start(page, talkative_client)
    box = page.get_by_label("Your message")

    too_long = "x" * 4001
    _send(page, too_long)
    expect(page.get_by_role("alert").filter(has_text="Message is too long")).to_be_visible()
    expect(box).to_have_value(too_long)
    expect(_messages(page, "USER")).to_have_count(0)
    screenshot(page, "student-chat-error-desktop")

    # Enter while the client is still answering: the text waits in the box, and sending it
    # afterwards stores it once.
    _send(page, FIRST_MESSAGE)
    expect(page.get_by_test_id("streaming-text")).not_to_be_empty()
    _send(page, "Take your time.")
    expect(page.get_by_role("status").filter(has_text="still answering")).to_be_visible()
    expect(box).to_have_value("Take your time.")
    _reply_done(page)
    box.press("Enter")
    expect(box).to_have_value("")
    expect(_messages(page, "USER").filter(has_text="Take your time.")).to_have_count(1)
    _reply_done(page)
    expect(_messages(page, "USER")).to_have_count(2)

    # A double click sends the message once.
    box.fill("Are you still there?")
    page.get_by_role("button", name="Send").dblclick()
    expect(box).to_have_value("")
    _reply_done(page)
    expect(_messages(page, "USER")).to_have_count(3)
    expect(page.get_by_text("still answering")).to_have_count(0)


def test_a_turn_sent_from_another_tab_appears_in_this_one(open_page, talkative_client):
    page = open_page("student")
    _start(page, talkative_client)
    other = page.context.new_page()
    other.goto(page.url)
    _send(other, "I am writing from my other tab.")
    expect(_messages(page, "USER").last).to_contain_text("I am writing from my other tab.")
    _reply_done(page)
    _reply_done(other)
    expect(_messages(page, "ASSISTANT").last).to_have_text(
        _messages(other, "ASSISTANT").last.text_content()
    )


def test_on_a_phone_a_student_practises_with_a_demo_client(open_page, app_url):
    page = open_page("student", phone=True)
    for name, difficulty in [
        ("Maya Okafor", "Gentle · 1/5"),
        ("Daniel Reyes", "Moderate · 3/5"),
        ("Eleanor Whitfield", "Very hard · 5/5"),
    ]:
        expect(_card(page, name)).to_contain_text(difficulty)
    screenshot(page, "student-practice-phone")
    card = _card(page, "Maya Okafor")
    card.get_by_role("button", name=re.compile("Start practice")).or_(
        card.get_by_role("link", name=re.compile("Resume"))
    ).click()
    expect(page).to_have_url(re.compile(r"/practice/[0-9a-f-]{36}$"))
    session_id = page.url.rsplit("/", 1)[-1]
    _send(page, "Hi Maya, thanks for coming. How have the first weeks been?")
    expect(_messages(page, "USER").last).to_contain_text("How have the first weeks been?")
    _reply_done(page)
    expect(_messages(page, "ASSISTANT").last).to_have_attribute("data-status", "COMPLETE")
    send = page.get_by_role("button", name="Send")
    expect(send).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "student-chat-phone")

    page.goto(f"{app_url}/history")
    expect(page.get_by_test_id("history-row").first).to_be_visible()
    screenshot(page, "student-history-phone")
    page.goto(f"{app_url}/transcripts/{session_id}")
    expect(page.get_by_test_id("message").first).to_be_visible()
    screenshot(page, "student-transcript-phone")


def test_a_teacher_holds_a_test_conversation_with_their_own_client(open_page, app_url, teacher):
    client_id, name = _talkative_client(teacher)
    start = "mutation($c: ID!) { startSession(clientId: $c) { session { id } } }"
    session_id = teacher.data(start, c=client_id)["startSession"]["session"]["id"]
    page = open_page("teacher")
    page.goto(f"{app_url}/practice/{session_id}")
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    _send(page, FIRST_MESSAGE)
    expect(page.get_by_test_id("streaming-text")).not_to_be_empty()
    _reply_done(page)
    expect(_messages(page, "ASSISTANT").last).to_contain_text("Thanks for seeing me.")
    page.get_by_role("button", name="End session").click()
    page.get_by_role("alertdialog").get_by_role("button", name="End session").click()
    expect(page.get_by_text("This practice session has ended.")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the client profile")).to_have_attribute(
        "href", f"/profiles/{client_id}"
    )


def test_a_student_joins_a_section_with_its_join_code(open_page, app_url, teacher):
    sections = teacher.data("{ sections { nodes { name joinCode } } }")
    demo = "Counselling Skills 101"
    section = next(s for s in sections["sections"]["nodes"] if s["name"] == demo)
    page = open_page("student2")
    code = page.get_by_label("Join code")
    code.fill("NOPE0000")
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.get_by_text("No section has this join code.")).to_be_visible()
    expect(code).to_have_value("NOPE0000")
    code.fill(section["joinCode"].lower())
    page.get_by_role("button", name="Join", exact=True).click()
    # The demo enrols every demo student: joining again changes nothing, and says so.
    expect(page.get_by_text("You're already in Counselling Skills 101.")).to_be_visible()
    expect(code).to_have_value("")
    expect(_card(page, "Maya Okafor")).to_be_visible()


def test_the_history_loads_more_sessions_on_request(open_page, app_url, talkative_client):
    riley = DemoApi.signed_in(app_url, "student2")
    clients = riley.data("{ clientProfiles(first: 100) { nodes { id name } } }")
    client_id = next(
        c["id"] for c in clients["clientProfiles"]["nodes"] if c["name"] == talkative_client
    )
    start = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }"
    for _ in range(21):
        riley.data(start, c=client_id)
    page = open_page("student2")
    page.goto(f"{app_url}/history")
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("Active")
    page.get_by_role("button", name="Load more").click()
    expect(rows).not_to_have_count(20)
    assert rows.count() > 20
    expect(rows.filter(has_text=talkative_client)).to_have_count(21)

"""The whole loop, in the browser only: a teacher writes a new client and publishes it in
an assignment; the section's student then finds that client and practises with it."""

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

DEMO_SECTION = "Counselling Skills 101"


def test_a_client_a_teacher_publishes_is_the_next_thing_the_student_practises(open_page, app_url):
    name = f"Dana {uuid.uuid4().hex[:6]}"
    title = f"First contact {uuid.uuid4().hex[:6]}"
    teacher = open_page("teacher")

    teacher.goto(f"{app_url}/profiles/new")
    teacher.get_by_label("Name").fill(name)
    teacher.get_by_label("Presenting concern").fill("Cannot sleep since losing her job.")
    teacher.get_by_label("Opening line").fill("I don't really know why I'm here.")
    teacher.get_by_role("radio", name="Hard", exact=True).click()
    teacher.get_by_role("button", name="Save", exact=True).click()
    expect(teacher.get_by_text("Saved: version 1.")).to_be_visible()

    teacher.goto(f"{app_url}/assignments")
    teacher.get_by_role("button", name="New assignment").click()
    teacher.get_by_label("Section").click()
    teacher.get_by_role("option", name=DEMO_SECTION, exact=True).click()
    teacher.get_by_label("Title").fill(title)
    teacher.get_by_label(re.compile(name)).click()
    teacher.get_by_role("button", name="Create draft").click()
    card = teacher.get_by_test_id("assignment-card").filter(has_text=title)
    card.get_by_role("button", name=f"Publish {title}").click()
    teacher.get_by_role("alertdialog").get_by_role("button", name="Publish").click()
    expect(card.get_by_text("Published", exact=True)).to_be_visible()

    student = open_page("student")
    client = student.get_by_test_id("client-card").filter(has_text=name)
    expect(client).to_contain_text("Hard · 4/5")
    expect(client).to_contain_text("Cannot sleep since losing her job.")
    expect(client).to_contain_text(title)
    screenshot(student, "student-practice-new-client-desktop")

    client.get_by_role("button", name=f"Start practice with {name}").click()
    expect(student).to_have_url(re.compile(r"/practice/[0-9a-f-]{36}/?$"))
    expect(student.get_by_role("heading", name=name, level=1)).to_be_visible()
    box = student.get_by_label("Your message")
    box.fill("Hi, I'm glad you came in. What's been happening?")
    box.press("Enter")
    expect(student.get_by_test_id("streaming-text")).not_to_be_empty()
    reply = student.locator('[data-testid="message"][data-role="ASSISTANT"]').last
    expect(reply).to_have_attribute("data-status", "COMPLETE", timeout=30_000)
    expect(reply).not_to_contain_text("No reply")

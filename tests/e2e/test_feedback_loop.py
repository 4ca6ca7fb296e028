"""The teaching loop in the browser: a teacher builds a rubric and attaches it to an
assignment; the student practises and ends; feedback appears (the offline evaluator); the
teacher adjusts a level, comments and releases it; the student reads it beside the
transcript and sees their progress. Also: a teacher watches a session live, read-only."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot

DEMO_SECTION = "Counselling Skills 101"
SESSION_URL = re.compile(r"/practice/([0-9a-f-]{36})/?$")


def _new_client_in_assignment(teacher: Page, app_url: str, name: str, title: str) -> None:
    teacher.goto(f"{app_url}/profiles/new")
    teacher.get_by_label("Name").fill(name)
    teacher.get_by_label("Presenting concern").fill("Feels stuck at work and at home.")
    teacher.get_by_label("Opening line").fill("I'm not sure where to begin.")
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


def _build_rubric(teacher: Page, app_url: str, rubric: str) -> None:
    teacher.goto(f"{app_url}/rubrics/new")
    expect(teacher.get_by_role("heading", name="New rubric")).to_be_visible()
    # Saving with nothing filled in: every problem is shown by its field.
    teacher.get_by_role("button", name="Save", exact=True).click()
    expect(teacher.get_by_text("Name cannot be empty.", exact=True)).to_be_visible()
    criterion = teacher.get_by_test_id("rubric-criterion").first
    expect(criterion.get_by_role("alert").first).to_be_visible()
    screenshot(teacher, "rubric-editor-errors-desktop")

    teacher.locator("#rubric-name").fill(rubric)
    teacher.locator("#criterion-0-name").fill("Open questions")
    teacher.locator("#criterion-0-description").fill("Invites the client to say more.")
    teacher.locator("#criterion-0-weight").fill("2")
    teacher.get_by_role("button", name="Add a criterion").click()
    teacher.locator("#criterion-1-name").fill("Reflections")
    teacher.locator("#criterion-1-description").fill("Says back what the client feels.")
    teacher.locator("#criterion-1-weight").fill("abc")
    teacher.get_by_role("button", name="Save", exact=True).click()
    expect(teacher.get_by_text("Weight must be a number, for example 1 or 0.5.")).to_be_visible()
    teacher.locator("#criterion-1-weight").fill("1")
    teacher.get_by_role("button", name="Save", exact=True).click()
    expect(teacher.get_by_text("Saved as a draft.")).to_be_visible()
    expect(teacher).to_have_url(re.compile(r"/rubrics/[0-9a-f-]{36}/?$"))
    expect(teacher.get_by_role("heading", name=rubric, level=1)).to_be_visible()
    teacher.wait_for_timeout(500)  # the rubric's own page has loaded: the notice stays
    expect(teacher.get_by_text("Saved as a draft.")).to_be_visible()
    teacher.get_by_role("button", name="Publish").click()
    expect(teacher.get_by_text("Published: you can now attach it")).to_be_visible()
    screenshot(teacher, "rubric-editor-desktop")


def test_rubric_feedback_review_release_and_progress(open_page, app_url):
    tag = uuid.uuid4().hex[:6]
    name, title, rubric = f"Robin {tag}", f"Listening {tag}", f"Core skills {tag}"
    teacher = open_page("teacher")
    _build_rubric(teacher, app_url, rubric)
    _new_client_in_assignment(teacher, app_url, name, title)

    card = teacher.get_by_test_id("assignment-card").filter(has_text=title)
    card.get_by_label(f"Rubric for {title}").click()
    teacher.get_by_role("option", name=rubric, exact=True).click()
    expect(teacher.get_by_text(f"feedback against “{rubric}”")).to_be_visible()
    expect(card.get_by_label(f"Rubric for {title}")).to_contain_text(rubric)
    screenshot(teacher, "assignments-with-rubric-desktop")

    # The student practises and ends the session.
    student = open_page("student")
    client = student.get_by_test_id("client-card").filter(has_text=name)
    client.get_by_role("button", name=f"Start practice with {name}").click()
    expect(student).to_have_url(SESSION_URL)
    session_id = SESSION_URL.search(student.url).group(1)
    box = student.get_by_label("Your message")
    box.fill("What has been the hardest part of this week for you?")
    box.press("Enter")
    reply = student.locator('[data-testid="message"][data-role="ASSISTANT"]').last
    expect(reply).to_have_attribute("data-status", "COMPLETE", timeout=30_000)
    box.fill("It sounds like you feel stuck. How do you feel about that?")
    box.press("Enter")
    expect(reply).to_have_attribute("data-status", "COMPLETE", timeout=30_000)
    expect(student.locator('[data-testid="message"][data-role="ASSISTANT"]')).to_have_count(2)
    student.get_by_role("button", name="End session").click()
    student.get_by_role("alertdialog").get_by_role("button", name="End session").click()
    expect(student.get_by_text("ended", exact=False).first).to_be_visible()

    # The teacher finds it in the section's sessions and opens it in one click.
    teacher.goto(f"{app_url}/sessions")
    row = teacher.get_by_test_id("session-row").filter(has_text=name)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=re.compile("^Transcript of")).click()
    expect(teacher).to_have_url(re.compile(f"/transcripts/{session_id}"))
    panel = teacher.get_by_test_id("feedback-panel")
    scores = panel.get_by_test_id("criterion-score")
    expect(scores).to_have_count(2, timeout=30_000)  # the offline evaluator's feedback
    expect(panel.get_by_test_id("feedback-label")).to_contain_text("Offline evaluator")
    expect(panel.get_by_text("Not released yet")).to_be_visible()

    first = scores.filter(has_text="Open questions")
    evaluators = int(first.get_by_test_id("criterion-level").inner_text().split("/")[0])
    chosen = 1 if evaluators != 1 else 2  # another level than the evaluator's
    first.get_by_label("Level for Open questions").click()
    teacher.get_by_role("option", name=re.compile(f"^{chosen} · ")).click()
    expect(first.get_by_test_id("criterion-level")).to_have_text(f"{chosen} / 4")
    expect(first.get_by_text(re.compile("^Adjusted by"))).to_be_visible()

    panel.get_by_label("Add a comment").fill("A warm, open start. Keep reflecting feelings.")
    panel.get_by_role("button", name="Add comment").click()
    expect(panel.get_by_test_id("review-comment")).to_contain_text("A warm, open start.")
    teacher.get_by_role("button", name="Comment on message 3").click()
    panel.get_by_label("Add a comment").fill("Nice reflection here.")
    panel.get_by_role("button", name="Add comment").click()
    expect(
        panel.get_by_test_id("review-comment").filter(has_text="Nice reflection")
    ).to_contain_text("on message 3")
    panel.get_by_role("button", name="Release to the student").click()
    expect(panel.get_by_test_id("released-badge")).to_be_visible()
    screenshot(teacher, "transcript-review-teacher-desktop")

    # The student reads the released feedback beside the transcript.
    student.goto(f"{app_url}/transcripts/{session_id}")
    mine = student.get_by_test_id("feedback-panel")
    expect(mine.get_by_test_id("criterion-score")).to_have_count(2)
    expect(mine.get_by_test_id("feedback-label")).to_contain_text("Offline evaluator")
    expect(
        mine.get_by_test_id("criterion-score").filter(has_text="Open questions")
    ).to_contain_text(f"{chosen} / 4")
    expect(mine.get_by_test_id("review-comment")).to_have_count(2)
    expect(mine.get_by_role("combobox")).to_have_count(0)  # read-only for students
    links = mine.get_by_test_id("evidence-link")
    if links.count():
        links.first.click()
        expect(student).to_have_url(re.compile(r"#message-\d+$"))
    screenshot(student, "transcript-feedback-student-desktop")

    student.get_by_role("link", name="My progress").click()
    expect(student.get_by_role("heading", name="Progress", level=1)).to_be_visible()
    expect(
        student.get_by_test_id("progress-chart").filter(has_text="Open questions")
    ).to_be_visible()
    student.get_by_text("Show the levels as a table").click()
    expect(
        student.get_by_test_id("progress-row").filter(has_text="Open questions").last
    ).to_contain_text(f"{chosen} / 4")
    screenshot(student, "progress-student-desktop")


def test_feedback_and_progress_at_phone_width(open_page, app_url):
    student = open_page("student", phone=True)
    student.goto(f"{app_url}/progress")
    expect(student.get_by_role("heading", name="Progress", level=1)).to_be_visible()
    screenshot(student, "progress-student-phone")
    teacher = open_page("teacher", phone=True)
    teacher.goto(f"{app_url}/rubrics/new")
    expect(teacher.get_by_role("heading", name="New rubric")).to_be_visible()
    screenshot(teacher, "rubric-editor-phone")
    teacher.goto(f"{app_url}/sessions")
    expect(teacher.get_by_role("heading", name="Transcripts", level=1)).to_be_visible()
    screenshot(teacher, "sessions-teacher-phone")
    card = teacher.get_by_test_id("session-card").first
    card.get_by_role("link", name=re.compile("^Transcript of")).click()
    expect(teacher.get_by_test_id("feedback-panel")).to_be_visible()
    screenshot(teacher, "transcript-review-teacher-phone")


def test_teacher_watches_an_active_session_live_read_only(open_page, app_url):
    student = open_page("student2")
    client = student.get_by_test_id("client-card").first
    client.get_by_role("button", name=re.compile("^(Start practice|Resume)")).click()
    expect(student).to_have_url(SESSION_URL)
    session_id = SESSION_URL.search(student.url).group(1)

    teacher = open_page("teacher")
    teacher.goto(f"{app_url}/sessions")
    teacher.get_by_label("Status").click()
    teacher.get_by_role("option", name="In progress").click()
    row = teacher.locator(f'[data-testid="session-row"]:has(a[href*="{session_id}"])')
    row.get_by_role("link", name=re.compile("^Watch ")).click()
    expect(teacher).to_have_url(re.compile(f"/practice/{session_id}"))
    expect(teacher.get_by_text("Only the student can send messages.")).to_be_visible()
    expect(teacher.get_by_label("Your message")).to_have_count(0)

    box = student.get_by_label("Your message")
    box.fill("Can you tell me more about what happened?")
    box.press("Enter")
    expect(teacher.get_by_test_id("streaming-text")).not_to_be_empty(timeout=20_000)
    screenshot(teacher, "watch-live-teacher-desktop")
    reply = teacher.locator('[data-testid="message"][data-role="ASSISTANT"]').last
    expect(reply).to_have_attribute("data-status", "COMPLETE", timeout=30_000)
    student.get_by_role("button", name="End session").click()
    student.get_by_role("alertdialog").get_by_role("button", name="End session").click()

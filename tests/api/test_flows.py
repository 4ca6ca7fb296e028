"""End-to-end flows through the GraphQL API, the way the web app and integrators use it.

A teacher writes a client, opens a section and publishes an assignment; a student joins with
the code, practises (start, resume, restart, messages, end, rate); the teacher reviews it.
Only accounts are made with factories (there is no sign-up mutation); everything else goes
through /graphql with tokens from the `login` mutation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from api.accounts.models import Role, User
from api.conversations.models import Message, SessionFeedback
from tests.factories.accounts import PASSWORD, make_user

# Helpers


async def login(gql, user: User) -> str:
    data = await gql.ok(
        "mutation($email: String!, $password: String!) {"
        " login(email: $email, password: $password) { token user { id role } } }",
        {"email": user.email, "password": PASSWORD},
    )
    assert data["login"]["user"] == {"id": str(user.id), "role": user.role.value}
    return data["login"]["token"]


async def count_rows(db, model, *where) -> int:
    value = await db.scalar(select(func.count()).select_from(model).where(*where))
    await db.commit()  # end the read: on SQLite it holds the write lock the app needs
    return value


CREATE_CLIENT = """
mutation($input: CreateClientProfileInput!) {
  createClientProfile(input: $input) {
    clientProfile { id name age difficulty personalityTraits boundaries version archived }
  }
}"""

CREATE_SECTION = """
mutation($name: String!) { createSection(input: {name: $name}) { section { id name joinCode } } }
"""

CREATE_ASSIGNMENT = """
mutation($section: ID!, $clients: [ID!]!, $title: String!) {
  createAssignment(input: {sectionId: $section, title: $title, clientProfileIds: $clients,
                           instructions: "Open with a question."}) {
    assignment { id status publishedAt clientProfiles { id } }
  }
}"""

PUBLISH = """
mutation($id: ID!) { publishAssignment(id: $id) { assignment { id status publishedAt } } }
"""

JOIN = """
mutation($code: String!) { joinSection(joinCode: $code) { section { id name joinCode } } }
"""

CLIENTS = "{ clientProfiles { nodes { id name boundaries } } }"

START = """
mutation($client: ID!, $new: Boolean! = false) {
  startSession(clientId: $client, new: $new) {
    resumed
    session { id status endedAt clientProfile { id } assignment { id } }
  }
}"""

ACTIVE = "query($client: ID!) { activeSession(clientId: $client) { id } }"

SEND = """
mutation($session: ID!, $content: String!, $key: String) {
  sendMessage(sessionId: $session, content: $content, idempotencyKey: $key) {
    userMessage { id sessionId role content sequenceNumber status }
    assistantMessage { id sessionId role content sequenceNumber status }
  }
}"""

MESSAGES = """
query($id: ID!, $first: Int, $after: String) {
  session(id: $id) {
    messageCount
    messages(first: $first, after: $after) {
      edges { cursor node { sequenceNumber content role } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""

END = "mutation($id: ID!) { endSession(sessionId: $id) { session { id status endedAt } } }"

RATE = """
mutation($id: ID!, $rating: Int!, $comment: String) {
  rateSession(sessionId: $id, rating: $rating, comment: $comment) {
    session { id status }
    feedback { rating comment }
  }
}"""

SESSION = """
query($id: ID!) {
  session(id: $id) {
    id status endedAt messageCount
    student { id name }
    clientProfile { id name boundaries }
    assignment { id title }
    feedback { rating comment }
    messages { nodes { sequenceNumber role content } }
  }
}"""

SESSIONS = """
query($filter: SessionFilter) { sessions(filter: $filter) { nodes { id status } } }
"""


def node_ids(connection: dict) -> list[str]:
    return [node["id"] for node in connection["nodes"]]


@dataclass
class Classroom:
    teacher: User
    student: User
    teacher_token: str
    student_token: str
    client_id: str
    section_id: str
    assignment_id: str


async def set_up_classroom(db, gql) -> Classroom:
    """A teacher publishes one client to a section the student has joined (all via GraphQL)."""
    teacher = await make_user(db, Role.TEACHER)
    student = await make_user(db, Role.STUDENT)
    teacher_token = await login(gql, teacher)
    student_token = await login(gql, student)
    client = await gql.ok(
        CREATE_CLIENT,
        {"input": {"name": "Robin Hart", "presentingConcern": "Exam stress"}},
        teacher_token,
    )
    client_id = client["createClientProfile"]["clientProfile"]["id"]
    section = (await gql.ok(CREATE_SECTION, {"name": "Group 1"}, teacher_token))["createSection"]
    assignment = await gql.ok(
        CREATE_ASSIGNMENT,
        {"section": section["section"]["id"], "clients": [client_id], "title": "Week 1"},
        teacher_token,
    )
    assignment_id = assignment["createAssignment"]["assignment"]["id"]
    await gql.ok(PUBLISH, {"id": assignment_id}, teacher_token)
    await gql.ok(JOIN, {"code": section["section"]["joinCode"]}, student_token)
    return Classroom(
        teacher=teacher,
        student=student,
        teacher_token=teacher_token,
        student_token=student_token,
        client_id=client_id,
        section_id=section["section"]["id"],
        assignment_id=assignment_id,
    )


async def start(gql, room: Classroom, *, new: bool = False) -> dict:
    data = await gql.ok(START, {"client": room.client_id, "new": new}, room.student_token)
    return data["startSession"]


async def send(gql, room: Classroom, session_id: str, content: str, key: str | None = None):
    """Send and wait for the client's reply to be stored; returns the student's message."""
    data = await gql.ok(
        SEND, {"session": session_id, "content": content, "key": key}, room.student_token
    )
    await gql.settled(session_id)
    return data["sendMessage"]["userMessage"]


# Flows


async def test_teacher_publishes_a_client_and_the_student_finds_it_only_afterwards(db, gql):
    teacher = await make_user(db, Role.TEACHER)
    student = await make_user(db, Role.STUDENT)
    teacher_token = await login(gql, teacher)
    student_token = await login(gql, student)

    # The teacher writes a client, opens a section and drafts an assignment.
    client = (
        await gql.ok(
            CREATE_CLIENT,
            {
                "input": {
                    "name": "  Robin Hart  ",
                    "presentingConcern": "Exam stress",
                    "age": 20,
                    "difficulty": 4,
                    "personalityTraits": ["anxious", " ", "chatty"],
                    "boundaries": "Won't discuss grades.",
                }
            },
            teacher_token,
        )
    )["createClientProfile"]["clientProfile"]
    assert client["name"] == "Robin Hart"  # trimmed
    assert (client["age"], client["difficulty"]) == (20, 4)
    assert client["personalityTraits"] == ["anxious", "chatty"]  # blanks dropped
    assert client["boundaries"] == "Won't discuss grades."  # the author sees them
    assert (client["version"], client["archived"]) == (1, False)

    section = (await gql.ok(CREATE_SECTION, {"name": "Group 1"}, teacher_token))["createSection"][
        "section"
    ]
    code = section["joinCode"]
    assert len(code) == 8 and code.isalnum() and code.isupper()

    draft = (
        await gql.ok(
            CREATE_ASSIGNMENT,
            {"section": section["id"], "clients": [client["id"]], "title": "Week 1"},
            teacher_token,
        )
    )["createAssignment"]["assignment"]
    assert (draft["status"], draft["publishedAt"]) == ("DRAFT", None)
    assert [c["id"] for c in draft["clientProfiles"]] == [client["id"]]

    # The student joins, typing the code the way people do: lower case, with a dash.
    typed = f"{code[:4].lower()}-{code[4:].lower()}"
    joined = (await gql.ok(JOIN, {"code": typed}, student_token))["joinSection"]["section"]
    assert joined == {"id": section["id"], "name": "Group 1", "joinCode": None}
    sections = (await gql.ok("{ sections { nodes { id joinCode } } }", token=student_token))[
        "sections"
    ]
    assert sections["nodes"] == [{"id": section["id"], "joinCode": None}]

    # Before publishing, the client and the draft are invisible to the student.
    assert node_ids((await gql.ok(CLIENTS, token=student_token))["clientProfiles"]) == []
    assert (
        node_ids(
            (await gql.ok("{ assignments { nodes { id } } }", token=student_token))["assignments"]
        )
        == []
    )
    hidden = await gql.error(START, {"client": client["id"]}, student_token)
    assert hidden["extensions"]["code"] == "NOT_FOUND"

    published = (await gql.ok(PUBLISH, {"id": draft["id"]}, teacher_token))["publishAssignment"]
    assert published["assignment"]["status"] == "PUBLISHED"
    assert published["assignment"]["publishedAt"] is not None

    # Now the student sees the client, without the author's private notes.
    clients = (await gql.ok(CLIENTS, token=student_token))["clientProfiles"]["nodes"]
    assert clients == [{"id": client["id"], "name": "Robin Hart", "boundaries": None}]
    assignments = await gql.ok("{ assignments { nodes { id status } } }", token=student_token)
    assert assignments["assignments"]["nodes"] == [{"id": draft["id"], "status": "PUBLISHED"}]
    roster = await gql.ok(
        "query($id: ID!) { section(id: $id) { students { nodes { id } } } }",
        {"id": section["id"]},
        teacher_token,
    )
    assert node_ids(roster["section"]["students"]) == [str(student.id)]


async def test_start_resumes_the_active_session_and_new_starts_afresh(db, gql):
    room = await set_up_classroom(db, gql)

    first = await start(gql, room)
    assert first["resumed"] is False
    assert first["session"]["status"] == "ACTIVE"
    assert first["session"]["clientProfile"]["id"] == room.client_id
    assert first["session"]["assignment"]["id"] == room.assignment_id
    first_id = first["session"]["id"]

    again = await start(gql, room)
    assert (again["resumed"], again["session"]["id"]) == (True, first_id)
    active = await gql.ok(ACTIVE, {"client": room.client_id}, room.student_token)
    assert active["activeSession"]["id"] == first_id

    fresh = await start(gql, room, new=True)
    assert fresh["resumed"] is False
    assert fresh["session"]["id"] != first_id
    old = (await gql.ok(SESSION, {"id": first_id}, room.student_token))["session"]
    assert old["status"] == "COMPLETED"
    assert old["endedAt"] is not None
    active = await gql.ok(ACTIVE, {"client": room.client_id}, room.student_token)
    assert active["activeSession"]["id"] == fresh["session"]["id"]


async def test_messages_are_numbered_in_order_and_page_with_cursors(db, gql):
    room = await set_up_classroom(db, gql)
    session_id = (await start(gql, room))["session"]["id"]

    sent = [await send(gql, room, session_id, text) for text in ("Hi.", "How are you?", "  Ok.  ")]
    assert [m["sequenceNumber"] for m in sent] == [1, 3, 5]
    assert [m["content"] for m in sent] == ["Hi.", "How are you?", "Ok."]
    assert {(m["sessionId"], m["role"], m["status"]) for m in sent} == {
        (session_id, "USER", "COMPLETE")
    }

    page1 = (await gql.ok(MESSAGES, {"id": session_id, "first": 4}, room.student_token))["session"]
    assert page1["messageCount"] == 6
    messages = page1["messages"]
    assert [e["node"]["sequenceNumber"] for e in messages["edges"]] == [1, 2, 3, 4]
    assert [e["node"]["role"] for e in messages["edges"]] == ["USER", "ASSISTANT"] * 2
    assert messages["pageInfo"]["hasNextPage"] is True
    assert messages["pageInfo"]["hasPreviousPage"] is False
    assert messages["pageInfo"]["startCursor"] == messages["edges"][0]["cursor"]
    assert messages["pageInfo"]["endCursor"] == messages["edges"][-1]["cursor"]

    after = messages["pageInfo"]["endCursor"]
    page2 = await gql.ok(
        MESSAGES, {"id": session_id, "first": 4, "after": after}, room.student_token
    )
    rest = page2["session"]["messages"]
    assert [e["node"]["sequenceNumber"] for e in rest["edges"]] == [5, 6]
    assert rest["edges"][0]["node"]["content"] == "Ok."
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True

    whole = await gql.ok(MESSAGES, {"id": session_id}, room.student_token)
    edges = whole["session"]["messages"]["edges"]
    students = [e["node"]["content"] for e in edges if e["node"]["role"] == "USER"]
    assert students == ["Hi.", "How are you?", "Ok."]
    assert all(e["node"]["content"] for e in edges)  # every reply has its text


async def test_resending_with_the_same_idempotency_key_stores_nothing_new(db, gql):
    room = await set_up_classroom(db, gql)
    session_id = (await start(gql, room))["session"]["id"]
    in_session = Message.session_id == uuid.UUID(session_id)

    original = await send(gql, room, session_id, "Sorry I'm late.", key="msg-1")
    retried = await send(gql, room, session_id, "Sorry I'm late.", key="msg-1")
    assert retried == original
    assert await count_rows(db, Message, in_session) == 2  # the message and its one reply

    following = await send(gql, room, session_id, "Where were we?", key="msg-2")
    assert following["sequenceNumber"] == 3
    count = await gql.ok(MESSAGES, {"id": session_id}, room.student_token)
    assert count["session"]["messageCount"] == 4
    assert await count_rows(db, Message, in_session) == 4


async def test_an_ended_session_takes_no_messages_and_can_be_rated(db, gql):
    room = await set_up_classroom(db, gql)
    session_id = (await start(gql, room))["session"]["id"]
    await send(gql, room, session_id, "Thanks for seeing me.")
    in_session = Message.session_id == uuid.UUID(session_id)

    too_early = await gql.error(RATE, {"id": session_id, "rating": 5}, room.student_token)
    assert too_early["extensions"]["code"] == "CONFLICT"
    assert "End the session" in too_early["message"]

    ended = (await gql.ok(END, {"id": session_id}, room.student_token))["endSession"]["session"]
    assert ended["status"] == "COMPLETED"
    assert ended["endedAt"] is not None
    retried = (await gql.ok(END, {"id": session_id}, room.student_token))["endSession"]
    assert retried["session"] == ended  # ending twice is harmless and keeps the end time

    late = await gql.error(
        SEND, {"session": session_id, "content": "One more thing"}, room.student_token
    )
    assert late["extensions"]["code"] == "CONFLICT"
    assert "has ended" in late["message"]
    assert await count_rows(db, Message, in_session) == 2
    assert (await gql.ok(ACTIVE, {"client": room.client_id}, room.student_token)) == {
        "activeSession": None
    }

    rated = await gql.ok(
        RATE, {"id": session_id, "rating": 5, "comment": "Felt real."}, room.student_token
    )
    assert rated["rateSession"]["feedback"] == {"rating": 5, "comment": "Felt real."}
    assert rated["rateSession"]["session"] == {"id": session_id, "status": "COMPLETED"}

    rerated = await gql.ok(RATE, {"id": session_id, "rating": 1}, room.student_token)
    assert rerated["rateSession"]["feedback"] == {"rating": 1, "comment": ""}
    rows = await count_rows(
        db, SessionFeedback, SessionFeedback.session_id == uuid.UUID(session_id)
    )
    assert rows == 1  # rating again replaced the first rating


async def test_teacher_reviews_the_students_completed_session(db, gql):
    room = await set_up_classroom(db, gql)
    session_id = (await start(gql, room))["session"]["id"]
    await send(gql, room, session_id, "I can't sleep before exams.")
    await send(gql, room, session_id, "It's been weeks.")
    await gql.ok(END, {"id": session_id}, room.student_token)
    await gql.ok(RATE, {"id": session_id, "rating": 4, "comment": "Useful"}, room.student_token)

    completed = await gql.ok(SESSIONS, {"filter": {"status": "COMPLETED"}}, room.teacher_token)
    assert completed["sessions"]["nodes"] == [{"id": session_id, "status": "COMPLETED"}]
    active = await gql.ok(SESSIONS, {"filter": {"status": "ACTIVE"}}, room.teacher_token)
    assert active["sessions"]["nodes"] == []
    by_client = await gql.ok(SESSIONS, {"filter": {"clientId": room.client_id}}, room.teacher_token)
    assert node_ids(by_client["sessions"]) == [session_id]
    by_student = await gql.ok(
        SESSIONS, {"filter": {"studentId": str(room.student.id)}}, room.teacher_token
    )
    assert node_ids(by_student["sessions"]) == [session_id]

    session = (await gql.ok(SESSION, {"id": session_id}, room.teacher_token))["session"]
    assert session["student"] == {"id": str(room.student.id), "name": room.student.name}
    assert session["clientProfile"]["id"] == room.client_id
    assert session["assignment"] == {"id": room.assignment_id, "title": "Week 1"}
    assert session["feedback"] == {"rating": 4, "comment": "Useful"}
    assert session["messageCount"] == 4
    transcript = [(m["sequenceNumber"], m["role"]) for m in session["messages"]["nodes"]]
    assert transcript == [(1, "USER"), (2, "ASSISTANT"), (3, "USER"), (4, "ASSISTANT")]
    said = [m["content"] for m in session["messages"]["nodes"] if m["role"] == "USER"]
    assert said == ["I can't sleep before exams.", "It's been weeks."]


async def test_every_list_pages_through_all_items_once(db, gql):
    """first/after walk a list to its end with no repeats, also for lists newest-first."""
    room = await set_up_classroom(db, gql)
    assignments = [room.assignment_id]
    for title in ("Week 2", "Week 3"):
        created = await gql.ok(
            CREATE_ASSIGNMENT,
            {"section": room.section_id, "clients": [room.client_id], "title": title},
            room.teacher_token,
        )
        assignments.append(created["createAssignment"]["assignment"]["id"])
    for name in ("Alex Moss", "Casey Lind"):
        await gql.ok(
            CREATE_CLIENT, {"input": {"name": name, "presentingConcern": "x"}}, room.teacher_token
        )
    sessions = [(await start(gql, room, new=True))["session"]["id"] for _ in range(3)]

    async def walk(field: str, token: str) -> list[str]:
        query = (
            f"query($after: String) {{ {field}(first: 1, after: $after) {{"
            " nodes { id } pageInfo { hasNextPage endCursor } } }"
        )
        seen, after = [], None
        for _ in range(10):
            connection = (await gql.ok(query, {"after": after}, token))[field]
            seen += node_ids(connection)
            if not connection["pageInfo"]["hasNextPage"]:
                return seen
            after = connection["pageInfo"]["endCursor"]
        raise AssertionError(f"{field} kept answering with more pages: {seen}")

    assert await walk("sessions", room.student_token) == sessions[::-1]  # newest first
    assert await walk("assignments", room.teacher_token) == assignments[::-1]
    names = await gql.ok(CLIENTS, token=room.teacher_token)
    by_name = [n["id"] for n in names["clientProfiles"]["nodes"]]
    assert await walk("clientProfiles", room.teacher_token) == by_name
    assert [n["name"] for n in names["clientProfiles"]["nodes"]] == [
        "Alex Moss",
        "Casey Lind",
        "Robin Hart",
    ]


async def test_joining_a_section_again_says_the_student_was_in_it_already(db, gql):
    room = await set_up_classroom(db, gql)  # the student has joined once
    code = (
        await gql.ok(
            "query($id: ID!) { section(id: $id) { joinCode } }",
            {"id": room.section_id},
            room.teacher_token,
        )
    )["section"]["joinCode"]
    again = await gql.ok(
        "mutation($code: String!)"
        " { joinSection(joinCode: $code) { section { id } alreadyMember } }",
        {"code": code},
        room.student_token,
    )
    assert again["joinSection"] == {"section": {"id": room.section_id}, "alreadyMember": True}
    newcomer = await make_user(db, Role.STUDENT)
    first = await gql.ok(
        "mutation($code: String!) { joinSection(joinCode: $code) { alreadyMember } }",
        {"code": code},
        await login(gql, newcomer),
    )
    assert first["joinSection"]["alreadyMember"] is False


async def test_a_saved_age_is_cleared_with_null_and_kept_when_left_out(db, gql):
    teacher = await make_user(db, Role.TEACHER)
    token = await login(gql, teacher)
    created = await gql.ok(
        CREATE_CLIENT,
        {"input": {"name": "Robin Hart", "presentingConcern": "Exam stress", "age": 34}},
        token,
    )
    profile_id = created["createClientProfile"]["clientProfile"]["id"]
    update = """mutation($id: ID!, $input: UpdateClientProfileInput!) {
      updateClientProfile(id: $id, input: $input) { clientProfile { age name version } } }"""

    renamed = await gql.ok(update, {"id": profile_id, "input": {"name": "Robin H."}}, token)
    assert renamed["updateClientProfile"]["clientProfile"]["age"] == 34

    cleared = await gql.ok(update, {"id": profile_id, "input": {"age": None}}, token)
    assert cleared["updateClientProfile"]["clientProfile"] == {
        "age": None,
        "name": "Robin H.",
        "version": 3,
    }

"""The Claude path end to end: `practicum serve` with ANTHROPIC_BASE_URL at the fake
Anthropic server, a student watching the reply on the websocket while the upstream fails."""

from __future__ import annotations

from tests.fakes.anthropic_server import FakeAnthropic, Fault, Reply
from tests.transport.conftest import run_ok, serve
from tests.transport.test_session_events import (
    MAYA,
    OPENER,
    STUDENT,
    User,
    _login,
    applied,
    watching,
)

ANSWER = "Honestly? I'm not sure where to start. Everything feels like a lot right now."


async def test_a_reply_cut_mid_stream_restarts_cleanly_for_the_watching_student(tmp_path):
    data_dir = tmp_path / "data"
    with FakeAnthropic() as fake:
        env = {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}
        with serve(data_dir, env=env) as server:
            run_ok(data_dir, "demo")
            student: User = _login(server.url, STUDENT)
            clients = await student.run("{ clientProfiles { nodes { id name } } }")
            maya = next(c["id"] for c in clients["clientProfiles"]["nodes"] if c["name"] == MAYA)
            session_id = await student.start_session(maya)
            fake.enqueue(
                Fault.status(529),
                Fault.cut_after(2),
                Reply(text=ANSWER, chunk_chars=8, delay_between_chunks=0.01),
            )
            async with watching(server.url, student.init_payload(), session_id) as watch:
                sent = await student.send(session_id, OPENER)
                events = await watch.reply()
            stored = await student.session(session_id)
            models = await student.run(
                "query($id: ID!) { session(id: $id) { model estimatedCost } }", id=session_id
            )

    kinds = [e.kind for e in events]
    assert kinds[-1] == "MessageCompleted"
    resets = [e.data for e in events if e.kind == "MessageDelta" and e.data["reset"]]
    assert len(resets) == 1 and resets[0]["offset"] == 0  # the cut attempt's text is dropped
    assert applied(events) == ANSWER  # what the student ends up reading, never spliced
    reply = events[-1].data["message"]
    assert (reply["id"], reply["status"], reply["content"]) == (
        sent["assistantMessage"]["id"],
        "COMPLETE",
        ANSWER,
    )
    assert [m["status"] for m in stored["messages"]["nodes"]] == ["COMPLETE", "COMPLETE"]
    assert models["session"]["model"] == "claude-haiku-4-5"
    # Billed: the cut attempt (its reported input, estimated output) and the answer.
    assert len(fake.requests) == 3
    assert stored["inputTokens"] == sum(b["input_tokens"] for b in fake.billed)
    assert stored["outputTokens"] >= fake.billed[-1]["output_tokens"]
    assert float(models["session"]["estimatedCost"]) > 0

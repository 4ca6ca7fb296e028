"""What the web UI adds to the first word of a reply, as a student sees it.

Starts the app the way the README does (`make run` on a free port, fresh data), then, for
the same kind of turn with the offline simulator:
- the API alone: a graphql-transport-ws subscription to `sessionEvents` and `sendMessage`
  over HTTP, timed from the POST to the first non-empty `MessageDelta`;
- the web UI: Debian's chromium (Playwright), timed inside the page from the Enter key to
  the first word of the reply in the DOM (the state round trip, the UI server's own
  GraphQL call and subscription, and the render).
Prints one line: both medians and p95s, and what the UI adds.

    .venv/bin/python bench/ui_first_word.py [--turns 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.app import CHROMIUM, CHROMIUM_ARGS, DemoApi, running_app, sign_in

FIRST_WORD_IN_PAGE = """
() => { window.firstWord = new Promise((resolve) => {
  const box = document.querySelector('#message');
  let started = 0;
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter') started = performance.now(); },
                       {once: true, capture: true});
  const seen = () => {
    const text = document.querySelector('[data-testid="streaming-text"]');
    return text && text.textContent.trim() !== '';
  };
  const observer = new MutationObserver(() => {
    if (started && seen()) { observer.disconnect(); resolve(performance.now() - started); }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}); }
"""

SEND = """mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { assistantMessage { id } } }"""
EVENTS = """subscription($s: ID!) { sessionEvents(sessionId: $s) {
  __typename ... on MessageDelta { delta } } }"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def api_alone(url: str, turns: int) -> list[float]:
    student = DemoApi.signed_in(url, "student2")
    token, session = student.token, student.start_session(new=True)
    times = []
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {token}"}
    ) as http:
        for n in range(turns):
            async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
                await ws.recv()
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": EVENTS, "variables": {"s": session}},
                        }
                    )
                )
                started = time.perf_counter()
                sent = await http.post(
                    "/graphql",
                    json={"query": SEND, "variables": {"s": session, "c": f"How are you? ({n})"}},
                )
                if "errors" in sent.json():
                    raise RuntimeError(sent.json()["errors"])
                first = None
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame["type"] != "next":
                        continue
                    event = frame["payload"]["data"]["sessionEvents"]
                    if first is None and event["__typename"] == "MessageDelta" and event["delta"]:
                        first = (time.perf_counter() - started) * 1000
                    if event["__typename"] != "MessageDelta":
                        break
                times.append(first)
    return times


def through_the_ui(url: str, turns: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    session = DemoApi.signed_in(url, "student").start_session(new=True)
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        page = browser.new_page()
        sign_in(page, url, "student")
        page.goto(f"{url}/practice/{session}")
        box = page.locator("#message")
        box.wait_for()
        page.wait_for_timeout(1000)  # the page's subscription is open
        for n in range(turns):
            box.fill(f"How are you? ({n}) {uuid.uuid4().hex[:4]}")
            page.evaluate(FIRST_WORD_IN_PAGE)
            box.press("Enter")
            times.append(page.evaluate("() => window.firstWord"))
            page.get_by_test_id("streaming-reply").wait_for(state="detached", timeout=60_000)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=20)
    turns = parser.parse_args().turns

    with tempfile.TemporaryDirectory() as workdir, running_app(Path(workdir)) as app:
        api = asyncio.run(api_alone(app.url, turns))
        ui = through_the_ui(app.url, turns)
    api_p50, ui_p50 = statistics.median(api), statistics.median(ui)
    print(
        f"first word of a reply over {turns} turns (simulator): web UI p50 {ui_p50:.0f} ms "
        f"p95 {percentile(ui, 0.95):.0f} ms; API alone p50 {api_p50:.0f} ms "
        f"p95 {percentile(api, 0.95):.0f} ms; the UI adds p50 {ui_p50 - api_p50:.0f} ms"
    )


if __name__ == "__main__":
    main()

"""The chat: a practice session as it happens. The reply streams in from the
`sessionEvents` subscription, watched by a background task for as long as the page is open;
what the student typed stays in the box until the API has stored it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import reflex as rx

from ui.format import difficulty_text, money
from ui.graphql.client import UNREACHABLE, ApiError, execute, subscribe
from ui.state.base import AppState, Reply
from ui.state.conversation import SIMULATOR_MODEL, ChatMessage, load_session, upsert

logger = logging.getLogger(__name__)

MESSAGE_BOX = "message"  # the id (and form name) of the send box
DRAFT = "draft"  # the form's hidden field naming the message being written
RETRYABLE = ("FAILED", "INTERRUPTED")
FINAL = ("COMPLETE", "CANCELLED")
NOT_ANSWERED = {
    "FAILED": "The client's reply could not be generated. Your message is saved.",
    "INTERRUPTED": "The client's reply was interrupted. Your message is saved.",
}
RATING_LABELS = {"1": "Poor", "2": "Fair", "3": "Good", "4": "Very good", "5": "Excellent"}
LONGEST_WAIT_SECONDS = 15  # between attempts to reconnect to the session's events
SIGNED_OUT_AFTER_SECONDS = 3  # the page says why before it goes to the sign-in page
SIGNED_OUT = "signed-out"  # what `_follow` returns when the account may no longer act
# A server that is restarting refuses new turns (UNAVAILABLE) while its replies finish; the
# load balancer soon sends the same request to another. Within the few seconds a page may
# hold its state, the turn is sent again (same idempotency key: it is stored once).
RESTARTING = "UNAVAILABLE"
SENDS_WHILE_RESTARTING = 5
RESEND_AFTER_SECONDS = 1


class SessionState(AppState):
    loading: bool = True
    load_error: str = ""
    not_found: bool = False  # the address names no session this user may open
    shown_id: str = ""  # the session on the screen

    status: str = ""  # ACTIVE | COMPLETED
    model: str = ""
    client_id: str = ""
    client_name: str = ""
    difficulty: str = ""
    level: int = 0
    concern: str = ""
    assignment_title: str = ""
    student_id: str = ""
    student_name: str = ""
    total_tokens: int = 0
    estimated_cost: str = ""  # "$0.0042"

    messages: list[ChatMessage] = []
    reply_id: str = ""  # the reply streaming in, shown apart from the stored messages
    reply_text: str = ""
    failed_id: str = ""  # the latest reply, when it failed
    failed_reason: str = ""
    failed_retryable: bool = False

    draft_id: str = ""  # changes once a message is sent: a second submit of it is ignored
    waited_reply: str = ""  # the reply a message waits for, sent while it was streaming
    error: str = ""  # what went wrong with the last action, and what to do next
    content_error: str = ""  # the API's word on the message itself
    sending: bool = False
    stopping: bool = False
    retrying: bool = False
    ending: bool = False
    reconnecting: bool = False
    ended_account: str = ""  # why the account may no longer act (deactivated, signed out)

    rating: str = ""
    comment: str = ""
    rating_error: str = ""
    rating_saving: bool = False
    rated: bool = False

    _pending_text: str = ""  # the text last sent, and its idempotency key for a resend
    _pending_key: str = ""
    _watch: int = 0  # bumped to retire the background task watching the previous page

    @rx.var
    def streaming(self) -> bool:
        return self.reply_id != ""

    @rx.var
    def waiting(self) -> bool:
        """A message waits in the box for the reply streaming now."""
        return self.streaming and self.waited_reply == self.reply_id

    @rx.var
    def is_simulator(self) -> bool:
        return self.model == SIMULATOR_MODEL

    @rx.var
    def is_own(self) -> bool:
        return self.student_id != "" and self.student_id == self.user_id

    @rx.var
    def student_label(self) -> str:
        return "You" if self.is_own else self.student_name

    @rx.var
    def can_send(self) -> bool:
        return self.status == "ACTIVE" and self.is_own

    @rx.var
    def ended(self) -> bool:
        return self.status == "COMPLETED"

    @rx.var
    def asks_feedback(self) -> bool:
        return self.ended and self.is_own and self.user_role == "STUDENT" and not self.rated

    @rx.var
    def totals(self) -> str:
        return f"{self.total_tokens:,} tokens · {self.estimated_cost}"

    # Loading ------------------------------------------------------------------------------

    @rx.event
    async def load(self):
        if not self.signed_in:
            return
        self._watch += 1
        # The same session again (after a reconnect) is refreshed in place, so that what the
        # student is typing stays in the box.
        refreshing = self.shown_id == self.session_id and self.status != ""
        if refreshing:
            self.error = self.content_error = ""
        else:
            self._clear(self.session_id)
            yield
        reply = await self._reply(load_session(self._api, self.shown_id))
        if reply.failed:
            self.loading = False
            if refreshing and reply.error.code == UNREACHABLE and reply.redirect is None:
                self.reconnecting = True  # the watch reloads once the API answers
                yield SessionState.watch
                return
            self.load_error, self.not_found = reply.message, reply.not_found
            yield reply.redirect
            return
        self._show(*reply.data)
        self.loading = False
        if self.status == "ACTIVE":
            yield SessionState.watch

    def _clear(self, session_id: str) -> None:
        self.shown_id = session_id
        self.loading, self.load_error, self.not_found = True, "", False
        self.status = self.model = self.client_id = self.client_name = ""
        self.difficulty = self.concern = self.assignment_title = ""
        self.student_id = self.student_name = ""
        self.total_tokens, self.estimated_cost = 0, ""
        self.messages, self.reply_id, self.reply_text = [], "", ""
        self._no_failure()
        self.error = self.content_error = ""
        self.sending = self.stopping = self.retrying = self.ending = self.reconnecting = False
        self.rating = self.comment = self.rating_error = ""
        self.rating_saving = self.rated = False
        self.draft_id = uuid.uuid4().hex
        self.waited_reply = self.ended_account = ""
        self._pending_text = self._pending_key = ""

    def _show(self, data: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        """The session as the API has it now (on load, and again after a reconnect)."""
        client = data.get("clientProfile") or {}
        self.client_id = client.get("id", "")
        self.client_name = client.get("name", "Client")
        self.level = client.get("difficulty", 0)
        self.difficulty = difficulty_text(self.level)
        self.concern = client.get("presentingConcern", "")
        self.assignment_title = (data.get("assignment") or {}).get("title", "")
        student = data.get("student") or {}
        self.student_id, self.student_name = student.get("id", ""), student.get("name", "")
        self.model = data["model"]
        self.rated = data.get("feedback") is not None
        self._totals(data)
        shown = [ChatMessage.of(m) for m in messages]
        self.messages = [m for m in shown if m.status != "STREAMING"]
        streaming = [m for m in shown if m.status == "STREAMING"]
        self.reply_id = streaming[-1].id if streaming else ""
        self.reply_text = streaming[-1].content if streaming else ""
        self._no_failure()
        latest = self.messages[-1] if self.messages else None
        if latest and latest.role == "ASSISTANT" and latest.status in RETRYABLE:
            self._failure(latest.id, NOT_ANSWERED[latest.status], retryable=True)

    def _totals(self, totals: dict[str, Any]) -> None:
        self.status = totals["status"]
        self.total_tokens = totals["totalTokens"]
        self.estimated_cost = money(totals["estimatedCost"])

    def _failure(self, message_id: str, reason: str, retryable: bool) -> None:
        self.failed_id, self.failed_reason = message_id, reason
        self.failed_retryable = retryable and self.status == "ACTIVE"

    def _no_failure(self) -> None:
        self.failed_id, self.failed_reason, self.failed_retryable = "", "", False

    # The session's events -----------------------------------------------------------------

    @rx.event(background=True)
    async def watch(self):
        """Follow the session's events while this page shows it. When the subscription
        drops, wait, reload the messages (so nothing is missed) and subscribe again."""
        async with self:
            generation, session_id, token = self._watch, self.shown_id, self.token
            stale = self.reconnecting
        if stale and not await self._reload(generation, session_id, token):
            yield await self._sign_out_if_ended(generation)
            return
        wait = 1
        while True:
            dropped = await self._follow(generation, session_id, token)
            if dropped == SIGNED_OUT:
                yield await self._sign_out_if_ended(generation)
                return
            if dropped is None:
                return
            async with self:
                if self._watch != generation:
                    return
                self.reconnecting = dropped
            await asyncio.sleep(wait if dropped else 0)
            wait = min(wait * 2, LONGEST_WAIT_SECONDS) if dropped else 1
            if not await self._reload(generation, session_id, token):
                yield await self._sign_out_if_ended(generation)
                return

    async def _sign_out_if_ended(self, generation: int):
        """When the account may no longer act (deactivated, erased, signed out elsewhere):
        the page says so for a moment, then goes to the sign-in page, which says it again."""
        async with self:
            if not self.ended_account or self._watch != generation:
                return None
        await asyncio.sleep(SIGNED_OUT_AFTER_SECONDS)
        async with self:
            if self._watch != generation:
                return None
            return self._signed_out(self.ended_account)

    def _account_ended(self, error: ApiError) -> None:
        self.ended_account = error.message
        self.error = f"{error.message} Signing you out…"

    async def _follow(self, generation: int, session_id: str, token: str) -> bool | str | None:
        """Apply events until the subscription ends. None: stop watching (the session
        ended, or the page moved on); True: the connection dropped; False: events were
        missed, subscribe again at once; SIGNED_OUT: the account may no longer act."""
        try:
            async for result in subscribe("StudentSessionEvents", token, sessionId=session_id):
                async with self:
                    if self._watch != generation:
                        return None
                    self.reconnecting = False
                    if not self._apply(result["sessionEvents"]):
                        return False
            return None
        except ApiError as error:
            if error.code == UNREACHABLE:
                return True
            async with self:
                if self._watch == generation:
                    self.error = error.message
                    if error.code == "UNAUTHENTICATED":
                        self._account_ended(error)
                        return SIGNED_OUT
            return None
        except Exception:  # any broken connection is worth another try
            logger.warning("session events for %s dropped", session_id, exc_info=True)
            return True

    async def _reload(self, generation: int, session_id: str, token: str) -> bool:
        """The session again after a drop; False when there is nothing more to watch."""
        try:
            data, messages = await load_session(
                lambda operation, **variables: execute(operation, token, **variables), session_id
            )
        except ApiError as error:
            if error.code == "UNAUTHENTICATED":
                async with self:
                    if self._watch == generation:
                        self._account_ended(error)
                return False
            return error.code == UNREACHABLE  # still away: keep trying
        async with self:
            if self._watch != generation:
                return False
            self._show(data, messages)
            self.reconnecting = False
            return self.status == "ACTIVE"

    def _apply(self, event: dict[str, Any]) -> bool:
        """One event of the session; False when it shows that the page is out of step
        (text was missed, or a turn was sent from another tab): reload, then follow again."""
        kind = event["__typename"]
        if kind == "MessageDelta":
            return self._on_delta(event)
        if kind == "SessionEnded":
            self._totals(event["totals"])
            self.reply_id = self.reply_text = ""
            self.failed_retryable = False
            return True
        message = ChatMessage.of(event["message"])
        known = self._knows(message.id)
        self._settle(message)
        if kind == "MessageCompleted":
            self._totals(event["totals"])
        else:
            self._failure(message.id, event["reason"], event["retryable"])
        return known

    def _knows(self, message_id: str) -> bool:
        return message_id == self.reply_id or any(m.id == message_id for m in self.messages)

    def _on_delta(self, delta: dict[str, Any]) -> bool:
        message_id = delta["messageId"]
        if message_id != self.reply_id:
            stored = next((m for m in self.messages if m.id == message_id), None)
            if stored is None:
                return False  # a turn this page did not send
            if stored.status in FINAL:
                return True  # a late delta of a reply already stored
            self.messages = [m for m in self.messages if m.id != message_id]  # retried
            self.reply_id, self.reply_text = message_id, ""
            self._no_failure()
        offset = 0 if delta["reset"] else delta["offset"]
        if offset > len(self.reply_text):
            return False
        self.reply_text = self.reply_text[:offset] + delta["delta"]
        return True

    def _settle(self, message: ChatMessage) -> None:
        """A reply is stored: it joins the messages and stops streaming."""
        self.messages = upsert(self.messages, message)
        if self.reply_id == message.id:
            self.reply_id = self.reply_text = ""
            self.error = ""  # e.g. "still answering": it belonged to the reply now over
        if self.failed_id == message.id and message.status in FINAL:
            self._no_failure()

    # Sending ------------------------------------------------------------------------------

    @rx.event
    async def send(self, form: dict[str, Any]):
        if form.get(DRAFT) != self.draft_id:
            return  # a double click: this message was sent already
        text = str(form.get(MESSAGE_BOX, ""))
        self.error = self.content_error = ""
        if not text.strip():
            self.content_error = "Write a message first."
            return
        if self.streaming:  # Enter while the client answers: the message waits in the box
            self.waited_reply = self.reply_id
            return
        if text != self._pending_text or not self._pending_key:
            self._pending_text, self._pending_key = text, uuid.uuid4().hex
        self.sending = True
        yield
        reply = await self._call_through_restart(
            "StudentSendMessage",
            sessionId=self.shown_id,
            content=text,
            idempotencyKey=self._pending_key,
        )
        self.sending = False
        if reply.failed:
            self._refused(reply)
            yield reply.redirect
            return
        turn = reply.data["sendMessage"]
        self.draft_id = uuid.uuid4().hex
        self._pending_text = self._pending_key = ""
        self.messages = upsert(self.messages, ChatMessage.of(turn["userMessage"]))
        reply = ChatMessage.of(turn["assistantMessage"])
        if reply.status == "STREAMING":
            if self.reply_id != reply.id:
                self.reply_id, self.reply_text = reply.id, reply.content
        else:  # a resend of a turn already answered
            self._settle(reply)
        yield rx.call_script("window.practicumChat && window.practicumChat.sent()")

    async def _call_through_restart(self, operation: str, **variables: Any) -> Reply:
        """A turn, sent again while the server that takes it is restarting."""
        for _ in range(SENDS_WHILE_RESTARTING - 1):
            reply = await self._call(operation, **variables)
            if not (reply.failed and reply.error.code == RESTARTING):
                return reply
            await asyncio.sleep(RESEND_AFTER_SECONDS)
        return await self._call(operation, **variables)

    def _refused(self, reply: Reply) -> None:
        """Show why the API refused; the message stays in the box to send again."""
        if reply.field("content"):
            self.content_error = f"{reply.field('content')} Edit it and send it again."
        else:
            self.error = f"{reply.message} Your message is still in the box."

    @rx.event
    async def stop(self):
        self.stopping, self.error = True, ""
        yield
        reply = await self._call("StudentStopReply", sessionId=self.shown_id)
        self.stopping, self.error = False, reply.message
        if reply.failed:
            yield reply.redirect
            return
        if (message := reply.data["stopReply"]["message"]) is not None:
            self._settle(ChatMessage.of(message))

    @rx.event
    async def retry(self):
        self.retrying, self.error = True, ""
        yield
        reply = await self._call_through_restart("StudentRetryReply", messageId=self.failed_id)
        self.retrying, self.error = False, reply.message
        if reply.failed:
            yield reply.redirect
            return
        retried = ChatMessage.of(reply.data["retryReply"]["assistantMessage"])
        self.messages = [m for m in self.messages if m.id != retried.id]
        if self.reply_id != retried.id:
            self.reply_id, self.reply_text = retried.id, retried.content
        self._no_failure()

    # Ending and feedback ------------------------------------------------------------------

    @rx.event
    async def end(self):
        self.ending, self.error = True, ""
        yield
        reply = await self._call("StudentEndSession", sessionId=self.shown_id)
        self.ending, self.error = False, reply.message
        if reply.failed:
            yield reply.redirect
            return
        self._totals(reply.data["endSession"]["session"])
        self.reply_id = self.reply_text = ""
        self.failed_retryable = False

    @rx.event
    def set_rating(self, value: str):
        self.rating, self.rating_error = value, ""

    @rx.event
    def set_comment(self, value: str):
        self.comment = value

    @rx.event
    async def rate(self, _form: dict[str, Any]):
        if self.rating not in RATING_LABELS:
            self.rating_error = "Choose a rating from 1 to 5."
            return
        self.rating_saving, self.rating_error = True, ""
        yield
        reply = await self._call(
            "StudentRateSession",
            sessionId=self.shown_id,
            rating=int(self.rating),
            comment=self.comment.strip() or None,
        )
        self.rating_saving = False
        if reply.failed:
            self.rating_error = reply.field("rating") or reply.field("comment", reply.message)
            yield reply.redirect
            return
        self.rated = True

"""A session's full transcript, with its tokens, cost and feedback (every role)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from ui.format import difficulty_text, money, readable_time
from ui.state.base import AppState
from ui.state.conversation import SIMULATOR_MODEL, STATUS_LABELS, ChatMessage, load_session


class TranscriptState(AppState):
    loading: bool = True
    error: str = ""
    not_found: bool = False  # the address names no session this user may see
    shown_id: str = ""
    client_name: str = ""
    difficulty: str = ""
    assignment: str = ""
    student_id: str = ""
    student_name: str = ""
    model: str = ""
    status: str = ""
    status_label: str = ""
    started: str = ""
    ended_at: str = ""
    message_count: int = 0
    # Token counts, as shown ('1,234').
    input_tokens: str = ""
    output_tokens: str = ""
    cache_write_tokens: str = ""
    cache_read_tokens: str = ""
    total_tokens: str = ""
    estimated_cost: str = ""  # "$0.0042"
    rating: int = 0  # 0: no feedback
    comment: str = ""
    rated_at: str = ""
    messages: list[ChatMessage] = []

    @rx.var
    def is_simulator(self) -> bool:
        return self.model == SIMULATOR_MODEL

    @rx.var
    def student_label(self) -> str:
        return "You" if self.student_id == self.user_id else self.student_name

    @rx.var
    def can_resume(self) -> bool:
        return self.status == "ACTIVE" and self.student_id == self.user_id

    @rx.event
    async def load(self):
        if not self.signed_in:
            return
        self.shown_id, self.loading, self.error, self.messages = self.session_id, True, "", []
        self.not_found = False
        yield
        reply = await self._reply(load_session(self._api, self.shown_id))
        self.loading = False
        if reply.failed:
            self.not_found = reply.not_found
            self.error = reply.message
            yield reply.redirect
            return
        data, messages = reply.data
        self._show(data)
        self.messages = [ChatMessage.of(m) for m in messages]

    def _show(self, data: dict[str, Any]) -> None:
        client = data.get("clientProfile") or {}
        self.client_name = client.get("name", "A client no longer available")
        self.difficulty = difficulty_text(client["difficulty"]) if client else ""
        self.assignment = (data.get("assignment") or {}).get("title", "")
        student = data.get("student") or {}
        self.student_id, self.student_name = student.get("id", ""), student.get("name", "")
        self.model, self.status = data["model"], data["status"]
        self.status_label = STATUS_LABELS.get(data["status"], data["status"])
        self.started = readable_time(data["startedAt"])
        self.ended_at = readable_time(data["endedAt"])
        self.message_count = data["messageCount"]
        self.input_tokens = f"{data['inputTokens']:,}"
        self.output_tokens = f"{data['outputTokens']:,}"
        self.cache_write_tokens = f"{data['cacheWriteTokens']:,}"
        self.cache_read_tokens = f"{data['cacheReadTokens']:,}"
        self.total_tokens = f"{data['totalTokens']:,}"
        self.estimated_cost = money(data["estimatedCost"])
        feedback = data.get("feedback") or {}
        self.rating, self.comment = feedback.get("rating", 0), feedback.get("comment", "")
        self.rated_at = readable_time(feedback.get("createdAt"))

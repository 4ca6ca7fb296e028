"""What the chat, the transcript and the history share: a message as the pages show it,
readable times, difficulty labels, and loading a session with every page of its messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from ui.format import clock, readable_time

STATUS_LABELS = {"ACTIVE": "Active", "COMPLETED": "Ended"}
SIMULATOR_MODEL = "practicum-simulator"


@dataclasses.dataclass
class ChatMessage:
    id: str = ""
    role: str = "USER"  # USER | ASSISTANT
    content: str = ""
    status: str = "COMPLETE"  # COMPLETE | STREAMING | FAILED | INTERRUPTED | CANCELLED
    time: str = ""  # '27 Nov 2026, 14:05 UTC'
    clock: str = ""  # '14:05'
    seq: int = 0
    fallback: bool = False

    @classmethod
    def of(cls, message: dict[str, Any]) -> ChatMessage:
        return cls(
            id=message["id"],
            role=message["role"],
            content=message["content"],
            status=message["status"],
            time=readable_time(message["timestamp"]),
            clock=clock(message["timestamp"]),
            seq=message["sequenceNumber"],
            fallback=message["isFallback"],
        )


def upsert(messages: list[ChatMessage], message: ChatMessage) -> list[ChatMessage]:
    """The list with `message` added or replaced (by id), in conversation order."""
    kept = [m for m in messages if m.id != message.id]
    return sorted([*kept, message], key=lambda m: m.seq)


Api = Callable[..., Awaitable[dict[str, Any]]]


async def load_session(api: Api, session_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The session and every message of it (page after page)."""
    data = (await api("StudentSession", id=session_id))["session"]
    connection = data.pop("messages")
    messages = list(connection["nodes"])
    while connection["pageInfo"]["hasNextPage"]:
        after = connection["pageInfo"]["endCursor"]
        connection = (await api("StudentSession", id=session_id, after=after))["session"][
            "messages"
        ]
        messages += connection["nodes"]
    return data, messages

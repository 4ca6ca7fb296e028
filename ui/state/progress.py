"""A student's progress per criterion across their evaluated sessions."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from ui import routes
from ui.format import readable_date
from ui.state.base import AppState


@dataclasses.dataclass
class ProgressLine:
    key: str = ""
    name: str = ""
    latest: str = ""  # "3 / 4"
    top: int = 1  # the highest level the criterion has had (the chart's scale)
    points: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ProgressRow:
    criterion: str = ""
    day: str = ""
    client: str = ""
    level: str = ""  # "3 / 4"
    href: str = ""


class ProgressState(AppState):
    progress_loading: bool = True
    progress_error: str = ""
    lines: list[ProgressLine] = []
    rows: list[ProgressRow] = []
    for_student: str = ""  # a teacher looking at one student's progress: their id

    @rx.event
    async def load_progress(self):
        if not self.signed_in:
            return
        self.progress_loading, self.progress_error = True, ""
        self.for_student = self.router.page.params.get("student", "") or ""
        yield
        variables = {"studentId": self.for_student} if self.for_student else {}
        reply = await self._call("StudentProgress", **variables)
        self.progress_loading = False
        if reply.failed:
            self.lines, self.rows = [], []
            self.progress_error = reply.message
            yield reply.redirect
            return
        self._show(reply.data["progress"])

    def _show(self, progress: list[dict[str, Any]]) -> None:
        lines, rows = [], []
        for criterion in progress:
            points = []
            for number, point in enumerate(criterion["points"], start=1):
                top = point["maxLevel"] or point["level"]
                day = readable_date(point["endedAt"]) or "—"
                points.append(
                    {
                        "session": f"#{number} · {day}",
                        "level": point["level"],
                        "max": top,
                        "client": point["clientName"],
                    }
                )
                rows.append(
                    ProgressRow(
                        criterion=criterion["name"],
                        day=day,
                        client=point["clientName"],
                        level=f"{point['level']} / {top}",
                        href=routes.transcript(point["sessionId"]),
                    )
                )
            last = criterion["points"][-1] if criterion["points"] else None
            latest = f"{last['level']} / {last['maxLevel'] or last['level']}" if last else "—"
            top = max((p["max"] for p in points), default=1)
            lines.append(ProgressLine(criterion["key"], criterion["name"], latest, top, points))
        self.lines, self.rows = lines, rows

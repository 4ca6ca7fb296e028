"""Events as bytes, for brokers that cross processes: encoded once per publish, decoded once
per receiving process, whatever the number of subscribers.

JSON, never pickle: what comes back from Redis is only ever turned into the project's own
event dataclasses, mapped models (their loaded columns, detached) and enums. Reply deltas,
nearly all the traffic, have a compact form of their own.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect as sa_inspect

from api.conversations.events import MessageDelta

_ALLOWED_MODULE_PREFIX = "api."
_types: dict[str, type] = {}


class UndecodableEvent(ValueError):
    """Bytes that are not an event this code knows (another version, or garbage)."""


def encode(event: Any) -> bytes:
    if type(event) is MessageDelta:
        return json.dumps(
            [
                "d",
                str(event.session_id),
                str(event.message_id),
                event.offset,
                event.delta,
                event.reset,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    return json.dumps(["o", _plain(event)], separators=(",", ":"), ensure_ascii=False).encode()


def decode(payload: bytes | str) -> Any:
    try:
        kind, *rest = json.loads(payload)
        if kind == "d":
            session_id, message_id, offset, delta, reset = rest
            return MessageDelta(uuid.UUID(session_id), uuid.UUID(message_id), offset, delta, reset)
        if kind == "o":
            return _value(rest[0])
    except UndecodableEvent:
        raise
    except Exception as exc:
        raise UndecodableEvent(f"{type(exc).__name__}: {exc}") from exc
    raise UndecodableEvent(f"unknown kind {kind!r}")


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _type(name: str) -> type:
    cls = _types.get(name)
    if cls is not None:
        return cls
    module, _, qualname = name.partition(":")
    if not module.startswith(_ALLOWED_MODULE_PREFIX):
        raise UndecodableEvent(f"type outside the project: {name}")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not isinstance(cls, type) or not (
        dataclasses.is_dataclass(cls) or issubclass(cls, Enum) or hasattr(cls, "__mapper__")
    ):
        raise UndecodableEvent(f"not an event type: {name}")
    _types[name] = cls
    return cls


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):  # before str: StrEnum members are strings too
        return {"$e": _name(type(value)), "v": value.value}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "__mapper__"):
        state = sa_inspect(value)
        loaded = state.dict
        columns = {
            attr.key: _plain(loaded[attr.key])
            for attr in state.mapper.column_attrs
            if attr.key in loaded
        }
        return {"$m": _name(type(value)), "c": columns}
    if dataclasses.is_dataclass(value):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$c": _name(type(value)), "f": fields}
    if isinstance(value, dict):
        return {"$o": {str(k): _plain(v) for k, v in value.items()}}
    raise TypeError(f"cannot send {type(value).__name__} between processes")


def _value(plain: Any) -> Any:
    if isinstance(plain, list):
        return [_value(item) for item in plain]
    if not isinstance(plain, dict):
        return plain
    if "$u" in plain:
        return uuid.UUID(plain["$u"])
    if "$t" in plain:
        return datetime.fromisoformat(plain["$t"])
    if "$d" in plain:
        return date.fromisoformat(plain["$d"])
    if "$n" in plain:
        return Decimal(plain["$n"])
    if "$e" in plain:
        return _type(plain["$e"])(plain["v"])
    if "$m" in plain:
        return _type(plain["$m"])(**{k: _value(v) for k, v in plain["c"].items()})
    if "$c" in plain:
        return _type(plain["$c"])(**{k: _value(v) for k, v in plain["f"].items()})
    if "$o" in plain:
        return {k: _value(v) for k, v in plain["$o"].items()}
    raise UndecodableEvent("unknown value")

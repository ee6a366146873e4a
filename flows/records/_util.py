"""Small helpers shared by the record extractors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any


def dig(obj: Any, *path: str) -> Any:
    """Follow optional keys through nested dicts; ``None`` as soon as one is missing."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def parse_ts(value: Any) -> datetime | None:
    """Parse the ISO-8601 timestamps the three clouds return (``Z``, offsets, 7-digit fractions).

    Azure returns 7 fractional digits (``2024-05-01T10:00:00.1234567Z``) which ``fromisoformat`` rejects,
    so the fraction is cut to microseconds. Epoch seconds (boto3's JSON protocol) are accepted too.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = re.match(r"\d*", rest).group()  # only the fraction; the zone offset follows it
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_text(value: Any) -> str | None:
    """Serialise a nested value for a JSON text column; ``None`` stays ``None``."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str)


def lower_or_none(value: Any) -> str | None:
    return None if value is None else str(value).lower()

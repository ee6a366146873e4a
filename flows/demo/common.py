"""Helpers shared by the demo record builders: seeded randomness, ids and the clouds' timestamp formats.

Everything here is pure: randomness comes from ``random.Random`` objects seeded with strings (hashed with
SHA-512 by the standard library, so the same seed gives the same stream in every process), and every
timestamp is derived from the snapshot date, never from the wall clock.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

T = TypeVar("T")

# The nightly run happens at 02:00 UTC on the snapshot date; "now" for every generated record.
RUN_HOUR = 2


def rng_for(*parts: object) -> random.Random:
    """A random stream that depends only on ``parts`` (seed, machine index, purpose, maybe the date)."""
    return random.Random(":".join(str(p) for p in parts))


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) that depends only on ``parts``: one cheap draw, where ``rng_for`` is too slow."""
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def weighted(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    """Pick one value of ``(value, weight)`` pairs; weights need not sum to one."""
    total = sum(weight for _, weight in options)
    point = rng.random() * total
    for value, weight in options:
        point -= weight
        if point < 0:
            return value
    return options[-1][0]


def guid(rng: random.Random) -> str:
    """A lower-case GUID drawn from ``rng`` (Azure subscription, vmId, tenant, workspace ids)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hex_id(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def run_time(snapshot_date: date) -> datetime:
    """The moment the nightly extract ran for ``snapshot_date``."""
    return datetime.combine(snapshot_date, time(RUN_HOUR), tzinfo=UTC)


def ago(snapshot_date: date, *, days: float = 0.0, hours: float = 0.0) -> datetime:
    """A moment ``days`` + ``hours`` before the run."""
    return run_time(snapshot_date) - timedelta(days=days, hours=hours)


def azure_ts(moment: datetime) -> str:
    """Azure's 7-digit fractional seconds with ``Z`` (``2024-05-01T01:02:03.1234567Z``)."""
    tick = (moment.microsecond * 10) + (moment.second % 10)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{tick:07d}Z"


def aws_ts(moment: datetime) -> str:
    """boto3 datetimes as ISO-8601 text (``2024-05-01T01:02:03+00:00``), whole seconds like EC2."""
    return moment.replace(microsecond=0).isoformat()


def aws_ts_fraction(moment: datetime) -> str:
    """SSM's millisecond-precision timestamps (``LastPingDateTime``) as ISO-8601 text."""
    return moment.isoformat(timespec="milliseconds")


def ssm_capture_time(moment: datetime) -> str:
    """``ListInventoryEntries`` ``CaptureTime``: a string with no fraction (``2024-05-01T10:00:00Z``)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def gcp_ts(moment: datetime) -> str:
    """Cloud Asset ``updateTime``: UTC with microseconds and ``Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S.%f}Z"


def gcp_local_ts(moment: datetime, offset_hours: int = -7) -> str:
    """Compute API timestamps: local offset and milliseconds (``2021-04-22T13:51:49.576-07:00``)."""
    local = moment.astimezone(UTC) + timedelta(hours=offset_hours)
    sign = "-" if offset_hours < 0 else "+"
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}{sign}{abs(offset_hours):02d}:00"


def month_end(year: int, month: int) -> date:
    """The last day of a month, for exemption end dates that only change monthly."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)

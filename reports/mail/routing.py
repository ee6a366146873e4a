"""Who gets a report scoped to their machines.

An owner is an e-mail address found either in a tag / label named in ``[email] routing_tags`` (``owner``,
``security-contact``...; a value may list several addresses separated by commas, semicolons or spaces),
in the ``owner`` column when it is itself an address, or in ``[email] scope_recipients`` mapped to the
machine's subscription, account or project id. Values that are not e-mail addresses (team names) route
nothing. Each address gets one message covering the union of its machines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import duckdb

from flows.settings import EmailSettings

# Deliberately strict: one local part, one domain with a dot, none of the characters that could smuggle
# another header or address into a message.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_SEPARATORS = re.compile(r"[,;\s]+")


def is_email(value: str | None) -> bool:
    return bool(value) and len(value) <= 254 and bool(_EMAIL.match(value))


def addresses(value: str | None) -> list[str]:
    """The e-mail addresses in a tag value, lower-cased; anything else is ignored."""
    if not value:
        return []
    return [part.lower() for part in _SEPARATORS.split(str(value).strip()) if is_email(part)]


@dataclass
class Route:
    """One owner address and the machines (``machine_key``) it receives, with why."""

    recipient: str
    machine_keys: set[str] = field(default_factory=set)
    via: set[str] = field(default_factory=set)  # 'tag security-contact', 'scope 123456789012'


def owner_routes(con: duckdb.DuckDBPyConnection, snapshot_date: date, email: EmailSettings,
                 exclude: Iterable[str] = ()) -> list[Route]:
    """Routes for the snapshot's machines, sorted by address; addresses in ``exclude`` (those that get the
    full reports anyway) are left out."""
    tag_keys = {t.lower() for t in email.routing_tags}
    scopes: dict[str, list[str]] = {}
    for scope, recipients in email.scope_recipients.items():
        scopes.setdefault(scope.lower(), []).extend(a.lower() for a in recipients if is_email(a))
    skip = {a.lower() for a in exclude}
    routes: dict[str, Route] = {}

    def add(address: str, machine_key: str, reason: str) -> None:
        if address in skip:
            return
        route = routes.setdefault(address, Route(address))
        route.machine_keys.add(machine_key)
        route.via.add(reason)

    # Only rows that can route: an '@' somewhere, or a mapped scope.
    result = con.execute(
        "select machine_key, scope_id, owner, tags_json from machines where snapshot_date = ? "
        "and (contains(coalesce(tags_json, ''), '@') or contains(coalesce(owner, ''), '@') "
        "or list_contains(?, lower(scope_id)))", [snapshot_date, list(scopes)])
    for machine_key, scope_id, owner, tags_json in result.fetchall():
        if tag_keys:
            for key, value in _tags(tags_json):
                if key.lower() in tag_keys:
                    for address in addresses(value):
                        add(address, machine_key, f"tag {key}")
            if not tags_json:  # the owner column is read from the tags: only on its own when they are gone
                for address in addresses(owner):
                    add(address, machine_key, "owner")
        for address in scopes.get((scope_id or "").lower(), ()):
            add(address, machine_key, f"scope {scope_id}")
    return [routes[a] for a in sorted(routes)]


def _tags(tags_json: str | None) -> list[tuple[str, str]]:
    if not tags_json:
        return []
    try:
        tags = json.loads(tags_json)
    except ValueError:
        return []
    if not isinstance(tags, dict):
        return []
    return [(str(k), str(v)) for k, v in tags.items() if v is not None]

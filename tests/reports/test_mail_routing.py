"""Owners get a message about their machines only: by an address in a routing tag, or by scope mapping."""

from __future__ import annotations

import csv
import email
import io
import json
from email import policy
from html import escape

import duckdb
import pytest
from smtp_fixtures import SNAPSHOT, contact, demo_estate

from flows.settings import EmailSettings, Settings
from reports.mail import build_messages
from reports.mail.routing import addresses, is_email, owner_routes

GCP_OWNER = "gcp-team@example.com"


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    return demo_estate(tmp_path_factory)


@pytest.fixture(scope="module")
def machines(estate) -> list[dict]:
    with duckdb.connect(str(estate.database), read_only=True) as con:
        result = con.execute("select machine_key, machine_name, cloud, scope_id, owner, tags_json from machines "
                             "where snapshot_date = ?", [SNAPSHOT])
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def expected_routes(machines, gcp_scope) -> dict[str, set[str]]:
    """Computed independently of the code under test: security-contact tags, plus one mapped GCP project."""
    routes: dict[str, set[str]] = {}
    for m in machines:
        tags = json.loads(m["tags_json"] or "{}")
        if "security-contact" in tags:
            routes.setdefault(tags["security-contact"], set()).add(m["machine_key"])
        if m["scope_id"] == gcp_scope:
            routes.setdefault(GCP_OWNER, set()).add(m["machine_key"])
    return routes


@pytest.fixture(scope="module")
def owner_messages(estate):
    settings = Settings(email=EmailSettings(scope_recipients={estate.gcp_scopes[0]: [GCP_OWNER]}))
    messages = build_messages(settings, estate.database, estate.report_dir, SNAPSHOT)
    return {m["To"]: email.message_from_bytes(m.as_bytes(), policy=policy.default) for m in messages}


def test_every_owner_address_gets_one_message(owner_messages, machines, estate):
    expected = expected_routes(machines, estate.gcp_scopes[0])
    assert len(expected) >= 5  # teams on Azure/AWS, plus the GCP project
    assert set(owner_messages) == set(expected)
    assert all(m["X-Edrcov-Kind"] == "owner" for m in owner_messages.values())
    team = next(m["owner"] for m in machines if m["cloud"] == "azure" and m["owner"])
    assert contact(team) in owner_messages


def test_each_owner_receives_only_their_machines(owner_messages, machines, estate):
    expected = expected_routes(machines, estate.gcp_scopes[0])
    with duckdb.connect(str(estate.database), read_only=True) as con:
        recommended = {r[0] for r in con.execute("select machine_key from recommendations where snapshot_date = ?",
                                                 [SNAPSHOT]).fetchall()}
    names = {m["machine_key"]: m["machine_name"] for m in machines}
    listed = 0
    for address, message in owner_messages.items():
        mine = expected[address]
        rows = list(csv.DictReader(io.StringIO(next(message.iter_attachments()).get_content())))
        assert {r["machine_key"] for r in rows} == mine & recommended, address
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert f"for {len(mine):,} machines routed to {address}" in text
        others = {names[k] for k in names if k not in mine}
        for body, shown in ((text, str), (html, escape)):  # the demo has a machine named <script>...
            leaked = [name for name in others if shown(name) in body]
            assert not leaked, f"{address} sees machines of others: {leaked[:5]}"
        # and their own machines needing action are listed
        with duckdb.connect(str(estate.database), read_only=True) as con:
            needing = [r[0] for r in con.execute(
                "select machine_name from machine_edr_status where snapshot_date = ? and list_contains(?, machine_key) "
                "and edr_status in ('not_installed', 'unhealthy', 'unknown')", [SNAPSHOT, sorted(mine)]).fetchall()]
        assert all(escape(name) in html for name in needing)
        listed += len(needing)
    assert listed > 0


def test_owner_message_shape_and_scoped_charts(owner_messages):
    message = owner_messages[GCP_OWNER]
    html = message.get_body(("html",)).get_content()
    assert "<style" not in html
    assert "EDR coverage of your machines" in html and "scope acme-" in html
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    cids = {p["Content-ID"].strip("<>") for p in related.iter_parts() if p.get_content_type() == "image/png"}
    assert cids and all(f'src="cid:{cid}"' in html for cid in cids)
    assert message.get_body(("plain",)).get_content().startswith("EDR coverage of your machines")


def test_full_recipients_are_not_also_routed(estate, machines):
    address = contact(next(m["owner"] for m in machines if m["cloud"] == "aws" and m["owner"]))
    settings = Settings(email=EmailSettings(recipients=[address.upper()]))
    messages = build_messages(settings, estate.database, estate.report_dir, SNAPSHOT)
    assert [m["To"] for m in messages].count(address.upper()) == 1
    assert address not in [m["To"] for m in messages]


def test_routing_reads_only_configured_tags_and_real_addresses(estate):
    with duckdb.connect(str(estate.database), read_only=True) as con:
        assert owner_routes(con, SNAPSHOT, EmailSettings(routing_tags=["owner"])) == []  # team names only
        routes = owner_routes(con, SNAPSHOT, EmailSettings(routing_tags=["Security-Contact"]))
    assert routes and all(r.via == {"tag security-contact"} for r in routes)


def test_address_parsing():
    assert is_email("a.b+c@example.co.uk")
    for bad in ("payments", "a@b", "x@example.com\r\nBcc: evil@example.com", "<a@example.com>", "a@@example.com"):
        assert not is_email(bad)
    assert addresses("Ops@Example.com; sec@example.com, team-name") == ["ops@example.com", "sec@example.com"]
    assert addresses(None) == []

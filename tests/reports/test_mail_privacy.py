"""With ``[reports] pseudonymize``, no real host name, machine name, IP address or owner is in any emailed byte,
pseudonyms are stable across nights, and the analyst database keeps the real values."""

from __future__ import annotations

import csv
import email
import io
import json
import re
from email import policy
from html import escape

import duckdb
import pytest
from smtp_fixtures import SNAPSHOT, demo_estate

from flows.settings import EmailSettings, ReportSettings, Settings
from reports.mail import build_messages
from reports.mail.message import MailBuildError
from reports.pseudonym import KEY_ENV, Pseudonymizer

KEY = "test-installation-key-4f1c9a7e2b"
FULL = "secops@example.com"
GCP_OWNER = "gcp-team@example.com"


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    return demo_estate(tmp_path_factory)


def private_settings(estate) -> Settings:
    return Settings(reports=ReportSettings(pseudonymize=True),
                    email=EmailSettings(recipients=[FULL], scope_recipients={estate.gcp_scopes[0]: [GCP_OWNER]}))


@pytest.fixture(scope="module")
def messages(estate):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        return build_messages(private_settings(estate), estate.database, estate.report_dir, SNAPSHOT)


def sensitive(database) -> dict[str, set[str]]:
    """The real values, read independently of the code under test."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute("select machine_name, host_name, owner, tags_json from machines").fetchall()
    found: dict[str, set[str]] = {"names": set(), "owners": set(), "ips": set()}
    for name, host, owner, tags in rows:
        found["names"].update(v for v in (name, host) if v)
        if owner:
            found["owners"].add(owner)
        contact = json.loads(tags or "{}").get("security-contact")
        if contact:
            found["owners"].add(contact)
        for value in (name, host):
            match = re.match(r"ip-(\d+)-(\d+)-(\d+)-(\d+)", value or "")
            if match:
                found["ips"].add(".".join(match.groups()))
    return found


def decoded_parts(message) -> list[str]:
    """Every header except To, and every text part decoded (QP/base64 can hide a name from a byte search)."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    texts = [f"{k}: {v}" for k, v in parsed.items() if k.lower() != "to"]
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            texts.append(part.get_content())
        if part is not parsed:
            texts.extend(f"{k}: {v}" for k, v in part.items())
    return texts


def test_no_real_host_ip_or_owner_in_any_message(messages, estate):
    real = sensitive(estate.database)
    assert len(real["names"]) > 300 and real["ips"] and len(real["owners"]) > 5
    assert len(messages) > 2 and {m["X-Edrcov-Kind"] for m in messages} == {"full", "owner"}
    for message in messages:
        raw = message.as_bytes()
        own = message["To"]
        texts = decoded_parts(message)
        blob = "\n".join(texts)
        for name in real["names"]:
            assert name.encode() not in raw and name not in blob and escape(name) not in blob, name
        for ip in real["ips"]:
            assert ip not in blob and ip.replace(".", "-") not in blob, ip
            assert ip.encode() not in raw
        for owner in real["owners"] - {own}:
            if "@" in owner:  # distinctive: '@' never appears in base64 or quoted-printable
                assert owner.encode() not in raw and owner not in blob, owner
            else:  # team names ('web', 'sre'): as whole words in the decoded text
                assert not re.search(rf"(?<![\w.@-]){re.escape(owner)}(?![\w@-])", blob, re.IGNORECASE), owner
        assert not re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", blob)
        assert "host-" in blob and "pseudonyms" in blob


def test_csv_is_pseudonymized_and_keeps_its_rows(messages, estate):
    full = next(m for m in messages if m["To"] == FULL)
    rows = list(csv.DictReader(io.StringIO(next(full.iter_attachments()).get_content())))
    with duckdb.connect(str(estate.database), read_only=True) as con:
        count = con.execute("select count(*) from recommendations where snapshot_date = ?", [SNAPSHOT]).fetchone()[0]
    assert len(rows) == count
    assert all(re.fullmatch(r"machine-[0-9a-f]{8}", r["machine_key"]) for r in rows)
    assert all(re.fullmatch(r"host-[0-9a-f]{8}", r["machine_name"]) for r in rows)
    assert all(not r["owner"] or re.fullmatch(r"(owner|host)-[0-9a-f]{8}", r["owner"]) for r in rows)


def test_database_keeps_the_real_values(messages, estate):
    real = sensitive(estate.database)
    with duckdb.connect(str(estate.database), read_only=True) as con:
        names = {r[0] for r in con.execute("select machine_name from recommendations").fetchall()}
    assert names <= real["names"] and not any(n.startswith("host-") for n in names)


def test_same_host_same_pseudonym_on_two_runs_and_nights(messages, estate, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    settings = private_settings(estate)
    again = build_messages(settings, estate.database, estate.report_dir, SNAPSHOT)
    assert [m.get_body(("plain",)).get_content() for m in again] == \
        [m.get_body(("plain",)).get_content() for m in messages]
    previous = build_messages(settings, estate.previous_database, estate.previous_report_dir, estate.previous_night)

    def names_by_key(database, message):
        rows = csv.DictReader(io.StringIO(next(message.iter_attachments()).get_content()))
        return {r["machine_key"]: r["machine_name"] for r in rows}

    tonight = names_by_key(estate.database, messages[0])
    last_night = names_by_key(estate.previous_database, previous[0])
    common = set(tonight) & set(last_night)
    assert len(common) > 10
    assert all(tonight[k] == last_night[k] for k in common)
    # and it is the documented keyed function of the real name
    with duckdb.connect(str(estate.database), read_only=True) as con:
        key, name = con.execute("select machine_key, machine_name from recommendations order by machine_key "
                                "limit 1").fetchone()
    p = Pseudonymizer(KEY.encode())
    assert tonight[p.pseudonym("machine", key)] == p.pseudonym("host", name)


def test_pseudonymize_without_a_key_refuses_to_build(estate, monkeypatch):
    from prefect.blocks.system import Secret

    monkeypatch.delenv(KEY_ENV, raising=False)

    def no_block(name, *a, **k):
        raise ValueError("no such block")

    monkeypatch.setattr(Secret, "load", no_block)
    with pytest.raises(MailBuildError, match=KEY_ENV):
        build_messages(private_settings(estate), estate.database, estate.report_dir, SNAPSHOT)

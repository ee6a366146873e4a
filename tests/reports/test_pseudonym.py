"""Keyed, stable pseudonyms for host names, owners and IP addresses (``reports.pseudonym``)."""

from __future__ import annotations

import re

import pytest

from reports.pseudonym import (
    KEY_ENV,
    Pseudonymizer,
    PseudonymKeyError,
    load_key,
)

KEY = b"0123456789abcdef-test-key"
VALUES = {
    "host": ["dp-api-dev-0457", "DPAPIDEV0457", "ip-10-60-50-155.eu-west-1.compute.internal", "Jane's box", "web"],
    "owner": ["payments", "pay.secops@example.com", "Jane Doe"],
}


@pytest.fixture
def p() -> Pseudonymizer:
    return Pseudonymizer(KEY, VALUES)


def test_pseudonyms_are_stable_keyed_and_shaped(p):
    alias = p.pseudonym("host", "dp-api-dev-0457")
    assert re.fullmatch(r"host-[0-9a-f]{8}", alias)
    assert Pseudonymizer(KEY, VALUES).pseudonym("host", "DP-API-DEV-0457") == alias  # new instance, any case
    assert Pseudonymizer(b"another-key-0123456789", VALUES).pseudonym("host", "dp-api-dev-0457") != alias
    assert p.pseudonym("owner", "dp-api-dev-0457") != alias  # the kind separates domains
    assert p.pseudonym("ip", "10.0.0.1") == p.pseudonym("ip", " 10.0.0.1 ")
    assert p.pseudonym("ip", "2001:db8:0:0::1") == p.pseudonym("ip", "2001:DB8::1")


def test_text_replaces_names_fqdns_ids_and_ips(p):
    text = ("Console: Virtual machine dp-api-dev-0457 > Inventory. CLI: az vm extension set --ids "
            "/subscriptions/x/virtualmachines/dp-api-dev-0457; host DPAPIDEV0457.corp.example, "
            "ip-10-60-50-155.eu-west-1.compute.internal, ip-10-1-2-3, 192.168.1.20:443, fe80::1%eth0, "
            "owner payments (pay.secops@example.com), Jane Doe. Project acme-web-prod-1 on the web tier 02:00:00.")
    out = p.text(text)
    for real in ("dp-api-dev-0457", "DPAPIDEV0457", "10-60-50-155", "10-1-2-3", "192.168.1.20", "fe80::1",
                 "payments", "pay.secops@example.com", "Jane Doe"):
        assert real.lower() not in out.lower(), real
    assert out.count(p.pseudonym("host", "dp-api-dev-0457")) == 2
    assert "acme-web-prod-1" in out  # 'web' only as a whole token
    assert f"the {p.pseudonym('host', 'web')} tier" in out
    assert "02:00:00" in out  # times are not IPv6 addresses
    assert p.pseudonym("ip", "192.168.1.20") + ":443" in out


def test_html_replaces_text_and_shown_attributes_only(p):
    html = ('<td title="dp-api-dev-0457" style="color:#fff" class="web">Jane&#39;s box &amp; web</td>'
            '<img src="cid:coverage-trend@edrcov" alt="payments"><style>.web{}</style>')
    out = p.html(html)
    assert 'class="web"' in out and "<style>.web{}</style>" in out and 'src="cid:coverage-trend@edrcov"' in out
    assert f'title="{p.pseudonym("host", "dp-api-dev-0457")}"' in out
    assert f'alt="{p.pseudonym("owner", "payments")}"' in out
    box, web = p.pseudonym("host", "Jane's box"), p.pseudonym("host", "web")
    assert f">{box} &amp; {web}</td>" in out


def test_a_host_named_like_an_entity_keeps_html_valid():
    p = Pseudonymizer(KEY, {"host": ["amp", "lt"]})
    assert p.html("<p>a &amp; b &lt; c amp</p>") == f"<p>a &amp; b &lt; c {p.pseudonym('host', 'amp')}</p>"


def test_key_from_environment_and_its_checks(monkeypatch):
    assert load_key({KEY_ENV: "x" * 32}) == b"x" * 32
    with pytest.raises(PseudonymKeyError, match="shorter than 16"):
        load_key({KEY_ENV: "short"})


def test_key_from_a_prefect_secret_block_or_a_clear_error(monkeypatch):
    from prefect.blocks.system import Secret

    class Found:
        def get(self):
            return "k" * 40

    monkeypatch.setattr(Secret, "load", lambda name, *a, **k: Found() if name == "edrcov-pseudonym-key" else None)
    assert load_key({}) == b"k" * 40

    def missing(name, *a, **k):
        raise ValueError(f"Unable to find block document named {name}")

    monkeypatch.setattr(Secret, "load", missing)
    with pytest.raises(PseudonymKeyError, match=KEY_ENV):
        load_key({})

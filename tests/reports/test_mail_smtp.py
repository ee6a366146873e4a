"""Real SMTP conversations with aiosmtpd: STARTTLS with certificate verification and AUTH, implicit TLS,
retries on transient replies only, clear failures, and no secret anywhere."""

from __future__ import annotations

import base64
import email
import logging
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_fixtures import PASSWORD, SNAPSHOT, USERNAME, demo_estate, free_port, make_certificate, smtp_server

from flows.settings import EmailSettings, Settings
from reports.mail import build_messages, deliver
from reports.mail.smtp import is_loopback, is_transient

PASSWORD_ENV = "EDRCOV_TEST_SMTP_PASSWORD"
SECRET_FORMS = (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
                base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def starttls_server(certificate):
    """aiosmtpd on a free loopback port: STARTTLS required, AUTH only after it (auth_require_tls)."""
    with smtp_server("starttls", certificate) as server:
        yield server


@pytest.fixture
def tls_server(certificate):
    """aiosmtpd with implicit TLS (Controller(ssl_context=...)) and AUTH."""
    with smtp_server("tls", certificate) as server:
        yield server


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def settings_for(server, **overrides) -> Settings:
    values = {"smtp_host": server.host, "smtp_port": server.port, "security": "starttls", "username": USERNAME,
              "password_env": PASSWORD_ENV, "sender": "edrcov@example.com", "retries": 2,
              "timeout_seconds": 10, "routing_tags": []}
    if server.certificate is not None:
        values["ca_file"] = server.certificate.cert
    values.update(overrides)
    return Settings(email=EmailSettings(**values))


def small_message(to: str = "secops@example.com", body: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "edrcov@example.com", to, "test"
    message.set_content(body)
    return message


def received(server, index: int = 0) -> EmailMessage:
    """A received message parsed as a client would after storing it (SMTP's CRLF line ends undone)."""
    return email.message_from_bytes(server.received[index].data.replace(b"\r\n", b"\n"), policy=policy.default)


@pytest.fixture(scope="module")
def real_messages(tmp_path_factory):
    estate = demo_estate(tmp_path_factory)
    settings = Settings(email=EmailSettings(recipients=["secops@example.com"],
                                            scope_recipients={estate.gcp_scopes[0]: ["gcp@example.com"]}))
    return build_messages(settings, estate.database, estate.report_dir, SNAPSHOT)


# --------------------------------------------------------------------------------------------- success


def test_starttls_with_verified_certificate_and_auth(starttls_server, password, real_messages):
    server = starttls_server
    result = deliver(settings_for(server), real_messages)
    assert result.ok, result.summary()
    assert {s.recipient for s in result.sent} == {m["To"] for m in real_messages}
    assert len(server.received) == len(real_messages)
    for got, sent in zip(server.received, real_messages, strict=True):
        assert got.tls and got.authenticated and got.user == USERNAME
        assert got.mail_from == "edrcov@example.com" and got.rcpt_tos == [sent["To"]]
    full = received(server, 0)
    assert full.get_content_type() == "multipart/mixed"
    assert full.get_body(("html",)).get_content() == real_messages[0].get_body(("html",)).get_content()
    attachment = next(full.iter_attachments())
    assert attachment.get_filename() == "recommendations.csv"
    assert attachment.get_content() == next(real_messages[0].iter_attachments()).get_content()


def test_implicit_tls(tls_server, password):
    server = tls_server
    result = deliver(settings_for(server, security="tls"), [small_message()])
    assert result.ok, result.summary()
    assert server.received[0].tls and server.received[0].authenticated


def test_plain_smtp_to_loopback_without_login(certificate):
    with smtp_server("plain", auth=False) as server:
        result = deliver(settings_for(server, security="none", username=None), [small_message()])
    assert result.ok, result.summary()
    assert not server.received[0].tls and not server.received[0].authenticated


# -------------------------------------------------------------------------------------------- failures


def test_wrong_password_is_recorded_and_not_retried(starttls_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    sleeps = Sleeps()
    server = starttls_server
    result = deliver(settings_for(server), [small_message("a@example.com"), small_message("b@example.com")],
                     sleep=sleeps)
    assert not result.sent and server.received == []
    assert [f.recipient for f in result.failed] == ["a@example.com", "b@example.com"]
    first, second = result.failed
    assert first.error_class == "SMTPAuthenticationError" and first.message.startswith("535")
    assert first.attempts == 1 and sleeps == []  # a 5xx: no retry (and no lock-out of the account)
    assert second.attempts == 0 and "not attempted" in second.message


def test_starttls_required_but_not_offered(password):
    with smtp_server("plain") as server:
        result = deliver(settings_for(server), [small_message()], sleep=Sleeps())
    assert server.received == []
    failure = result.failed[0]
    assert failure.error_class == "StartTLSNotOffered"
    assert "does not offer STARTTLS" in failure.message and failure.attempts == 1


def test_untrusted_certificate_is_refused(starttls_server, password, tmp_path):
    other = make_certificate(tmp_path, "other-ca")
    result = deliver(settings_for(starttls_server, ca_file=other.cert), [small_message()], sleep=Sleeps())
    assert starttls_server.received == []
    assert result.failed[0].error_class == "SSLCertVerificationError"
    assert result.failed[0].attempts == 1


def test_transient_451_is_retried_then_sent(starttls_server, password):
    sleeps = Sleeps()
    server = starttls_server
    server.handler.data_replies.append("451 4.3.0 Try again later")
    result = deliver(settings_for(server), [small_message()], sleep=sleeps)
    assert result.ok, result.summary()
    assert result.sent[0].attempts == 2
    assert len(sleeps) == 1 and sleeps[0] >= 2.0  # backed off before the second attempt
    assert server.handler.data_commands == 2 and len(server.received) == 1


def test_permanent_550_is_not_retried_and_the_next_message_still_goes(starttls_server, password):
    sleeps = Sleeps()
    server = starttls_server
    server.handler.data_replies.append("550 5.7.1 Message rejected by policy")
    result = deliver(settings_for(server), [small_message("a@example.com"), small_message("b@example.com")],
                     sleep=sleeps)
    assert [(f.recipient, f.error_class, f.attempts) for f in result.failed] == [("a@example.com", "SMTPDataError", 1)]
    assert result.failed[0].message.startswith("550 5.7.1")
    assert [s.recipient for s in result.sent] == ["b@example.com"]
    assert sleeps == []


def test_transient_failures_exhaust_the_retries(starttls_server, password):
    sleeps = Sleeps()
    starttls_server.handler.data_replies.extend(["421 4.3.2 Busy"] * 5)
    result = deliver(settings_for(starttls_server, retries=2), [small_message()], sleep=sleeps)
    assert result.failed[0].attempts == 3 and len(sleeps) == 2
    assert sleeps[1] > sleeps[0]  # exponential


def test_unreachable_server_is_retried_then_recorded():
    sleeps = Sleeps()
    port = free_port()  # nothing listens there
    settings = Settings(email=EmailSettings(smtp_host="127.0.0.1", smtp_port=port, security="none", retries=1,
                                            timeout_seconds=2))
    result = deliver(settings, [small_message("a@example.com"), small_message("b@example.com")], sleep=sleeps)
    assert [f.error_class for f in result.failed] == ["ConnectionRefusedError", "ConnectionRefusedError"]
    assert result.failed[0].attempts == 2 and len(sleeps) == 1
    assert result.failed[1].attempts == 0  # not hammered again for every message


def test_plain_smtp_is_refused_for_a_remote_host():
    settings = Settings(email=EmailSettings(smtp_host="smtp.example.com", security="none"))
    result = deliver(settings, [small_message()])
    assert result.failed[0].error_class == "InsecureTransportRefused"
    assert "loopback" in result.failed[0].message
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("mail.localhost.example.com")


def test_missing_password_is_a_clear_failure(starttls_server, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    server = starttls_server
    result = deliver(settings_for(server), [small_message()])
    assert server.received == []
    failure = result.failed[0]
    assert failure.error_class == "MissingPasswordError"
    assert PASSWORD_ENV in failure.message and failure.attempts == 0


def test_password_from_a_prefect_secret_block(certificate, monkeypatch):
    from prefect.blocks.system import Secret

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    loaded = []

    class FakeSecret:
        def get(self):
            return PASSWORD

    def load(name, *args, **kwargs):
        loaded.append(name)
        return FakeSecret()

    monkeypatch.setattr(Secret, "load", load)
    with smtp_server("starttls", certificate) as server:
        result = deliver(settings_for(server, password_secret_block="edrcov-smtp"), [small_message()])
    assert result.ok, result.summary()
    assert loaded == ["edrcov-smtp"] and server.received[0].authenticated


def test_secrets_never_reach_logs_results_or_mail(certificate, password, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    with smtp_server("starttls", certificate) as server:
        good = deliver(settings_for(server), [small_message()], sleep=Sleeps())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD + "-wrong")
    with smtp_server("starttls", certificate) as server2:
        bad = deliver(settings_for(server2), [small_message()], sleep=Sleeps())
    assert good.ok and not bad.ok
    captured = capsys.readouterr()
    haystacks = [caplog.text, repr(good), repr(bad), good.summary(), bad.summary(), captured.out, captured.err,
                 *(r.data.decode("utf-8", "replace") for r in server.received)]
    for secret in SECRET_FORMS:
        assert not any(secret in text for text in haystacks)


def test_failed_error_message_is_redacted():
    from reports.mail.smtp import _Redactor

    redact = _Redactor(USERNAME, PASSWORD)
    echoed = f"535 authentication failed for {SECRET_FORMS[2]} ({PASSWORD})"
    assert all(secret not in redact(echoed) for secret in SECRET_FORMS)


def test_transient_classification():
    import smtplib
    import ssl

    assert is_transient(smtplib.SMTPDataError(451, b"later"))
    assert is_transient(smtplib.SMTPServerDisconnected("gone"))
    assert is_transient(TimeoutError())
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(smtplib.SMTPDataError(554, b"no"))
    assert not is_transient(smtplib.SMTPAuthenticationError(535, b"bad"))
    assert is_transient(smtplib.SMTPAuthenticationError(454, b"temporary"))
    assert not is_transient(ssl.SSLCertVerificationError("bad cert"))
    assert is_transient(smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"mailbox busy")}))
    assert not is_transient(smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}))

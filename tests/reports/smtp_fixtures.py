"""Helpers of the mail tests: a real demo estate run through the pipeline, TLS certificates made at test time,
and aiosmtpd servers (STARTTLS + AUTH, implicit TLS, plain) that record what they receive.

aiosmtpd's ``Controller(port=0)`` fails its own health check, so a free loopback port is picked first.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SNAPSHOT = date(2026, 11, 28)
NIGHTS = 3
MACHINES = 200
SEED = 7
USERNAME = "edrcov-mailer"
#: Recognisable, so a leak into a log, a result or a message is easy to find.
PASSWORD = "Tr0ub4dor&3-EDRCOV-SECRET-PASSWORD"


def contact(team: str) -> str:
    """The security-contact address the test estate gives a team's Azure and AWS machines."""
    return f"{team}.secops@example.com"


# ------------------------------------------------------------------------------------------- the estate


@dataclass(frozen=True)
class Estate:
    data_dir: Path
    database: Path
    report_dir: Path
    previous_database: Path  # the night before, as it was then
    previous_report_dir: Path
    gcp_scopes: tuple[str, ...]

    @property
    def previous_night(self) -> date:
        return SNAPSHOT - timedelta(days=1)


_ESTATE: Estate | None = None


def _tags_with_contact(original):
    def machine_tags(ctx, machine, *, label_safe: bool = False):
        tags = original(ctx, machine, label_safe=label_safe)
        if machine.owner and not label_safe:  # GCP labels cannot hold '@': GCP routes by project instead
            tags["security-contact"] = contact(machine.owner)
        return tags

    return machine_tags


def demo_estate(tmp_path_factory: Any) -> Estate:
    """The demo estate (200 machines, 3 nights) through the real pipeline: land, build, write the reports.

    Azure and AWS machines with an owner carry a ``security-contact`` tag with an address (the demo itself
    only sets team names). Built once per test session.
    """
    global _ESTATE
    if _ESTATE is not None:
        return _ESTATE
    import pytest

    import flows.demo.aws
    import flows.demo.azure
    from flows.demo import land_demo_estate
    from flows.lake.writer import Landing
    from flows.settings import OutputSettings, Settings
    from reports.publish import report_dir, write_reports
    from transforms.build import build_database

    root = Path(tmp_path_factory.mktemp("mail-estate"))
    settings = Settings(output=OutputSettings(data_dir=root / "data"))
    previous = root / "previous.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        for module in (flows.demo.azure, flows.demo.aws):
            patch.setattr(module, "machine_tags", _tags_with_contact(module.machine_tags))
        for back in range(NIGHTS - 1, -1, -1):
            night = SNAPSHOT - timedelta(days=back)
            landing = Landing(settings.output.lake_dir, night, extracted_at=datetime.combine(night, time(2, 0),
                                                                                              tzinfo=UTC))
            land_demo_estate(landing, machines=MACHINES, seed=SEED)
            landing.commit()
            build_database(settings, night)
            if back == 1:
                write_reports(settings, night)
                shutil.copy(settings.output.database_path, previous)
    write_reports(settings, SNAPSHOT)
    import duckdb

    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        gcp = tuple(r[0] for r in con.execute("select distinct scope_id from machines where cloud = 'gcp' "
                                              "order by 1").fetchall())
    _ESTATE = Estate(data_dir=settings.output.data_dir, database=settings.output.database_path,
                     report_dir=report_dir(settings, SNAPSHOT), previous_database=previous,
                     previous_report_dir=report_dir(settings, SNAPSHOT - timedelta(days=1)), gcp_scopes=gcp)
    return _ESTATE


# ------------------------------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path, name: str = "localhost") -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA: pass ``cert`` as ``ca_file``)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Certificate(cert_path, key_path)


# ----------------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    authenticated: bool
    user: str | None


@dataclass
class RecordingHandler:
    """Stores every accepted message; ``data_replies`` are answered to the next DATA commands first
    (e.g. ``"451 4.3.0 Try again later"``), then 250."""

    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    data_commands: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.data_commands += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        user = session.auth_data.decode() if isinstance(session.auth_data, bytes) else session.auth_data
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or
                                      envelope.content, tls, bool(session.authenticated), user))
        return "250 2.0.0 OK: queued"


def authenticator(username: str = USERNAME, password: str = PASSWORD):
    def check(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == username
                and auth_data.password.decode() == password):
            return AuthResult(success=True, auth_data=username)
        return AuthResult(success=False, handled=False)

    return check


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler
    certificate: Certificate | None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def smtp_server(mode: str, certificate: Certificate | None = None, *, auth: bool = True) -> Iterator[SmtpServer]:
    """``mode``: 'starttls' (STARTTLS required, AUTH only after it), 'tls' (implicit TLS), 'plain'."""
    handler = RecordingHandler()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if auth:
        kwargs["authenticator"] = authenticator()
    if mode == "starttls":
        kwargs.update(tls_context=certificate.server_context(), require_starttls=True, auth_require_tls=True)
    elif mode == "tls":
        # The whole session is TLS; aiosmtpd only counts STARTTLS as TLS for auth_require_tls.
        kwargs.update(ssl_context=certificate.server_context(), auth_require_tls=False)
    else:
        kwargs.update(auth_require_tls=False)
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test.invalid",
                            **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler, certificate if mode != "plain" else None)
    finally:
        controller.stop()

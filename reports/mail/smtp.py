"""Sending the messages over SMTP (``smtplib``), or writing them as ``.eml`` files in a dry run.

Security (``[email] security``):

- ``starttls`` (default, port 587): EHLO, STARTTLS verifying the server certificate and host name against
  ``ca_file`` (a private CA bundle) or the system's CAs, EHLO again. A server that does not offer STARTTLS
  is refused: the password is never sent in clear.
- ``tls`` (port 465): implicit TLS from the first byte (``SMTP_SSL``), verified the same way.
- ``none``: plain SMTP, only to a loopback host (a local relay); any other host is refused.

Login happens when ``username`` is set, with the password from the environment variable ``password_env``
or the Prefect Secret block ``password_secret_block`` (see :mod:`reports.mail.credentials`).

Each message is retried (``retries`` times, exponential backoff with jitter) on transient failures only:
4xx replies, dropped connections, timeouts. 5xx rejections are not retried. A failure the connection
itself cannot get past (refused login, certificate, no STARTTLS, server unreachable after the retries)
fails the remaining messages at once rather than hammering the server with a bad password.

:func:`deliver` never raises: every outcome is in the :class:`DeliveryResult`, with error messages from
which the password (and its base64 forms, as AUTH sends it) is removed. It never touches the database or
the report files.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from flows.settings import EmailSettings, Settings
from reports.mail.credentials import resolve_password
from reports.mail.message import DROPPED_HEADER, message_size

log = logging.getLogger(__name__)

#: Backoff between attempts: 2 s, 4 s, 8 s... (plus up to 1 s of jitter), at most a minute.
RETRY_WAIT_INITIAL, RETRY_WAIT_MAX, RETRY_JITTER = 2.0, 60.0, 1.0
MAX_ERROR_CHARS = 300
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9@._+-]+")


# ------------------------------------------------------------------------------------------------ result


@dataclass(frozen=True)
class SentMessage:
    recipient: str
    subject: str
    size: int
    attempts: int
    path: Path | None = None  # the .eml file of a dry run


@dataclass(frozen=True)
class FailedMessage:
    recipient: str
    subject: str
    error_class: str
    message: str  # secrets removed
    attempts: int


@dataclass
class DeliveryResult:
    """What happened to every message; the flow reports ``failed`` (and may fail its run on it)."""

    sent: list[SentMessage] = field(default_factory=list)
    failed: list[FailedMessage] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        verb = "written" if self.dry_run else "sent"
        text = f"{len(self.sent)} message(s) {verb}, {len(self.failed)} failed"
        if self.failed:
            text += ": " + "; ".join(f"{f.recipient}: {f.error_class}: {f.message}" for f in self.failed[:10])
            if len(self.failed) > 10:
                text += f"; ... and {len(self.failed) - 10} more"
        return text


# -------------------------------------------------------------------------------------------- exceptions


class DeliveryError(Exception):
    """A failure of ours (not smtplib's), with a clear message."""


class MessageTooLarge(DeliveryError):
    pass


class InsecureTransportRefused(DeliveryError):
    pass


class StartTLSNotOffered(DeliveryError):
    pass


class NoRecipient(DeliveryError):
    pass


class _ConnectionFailed(Exception):
    """Wraps any failure while connecting, securing or logging in (not while sending one message)."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def _code(exc: BaseException) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    return getattr(exc, "smtp_code", None)


def is_transient(exc: BaseException) -> bool:
    """4xx replies, dropped connections and timeouts; not 5xx, TLS/certificate or configuration errors."""
    if isinstance(exc, _ConnectionFailed):
        exc = exc.cause
    if isinstance(exc, (DeliveryError, ssl.SSLError, ssl.CertificateError, smtplib.SMTPNotSupportedError)):
        return False
    code = _code(exc)
    if code is not None and code > 0:
        return 400 <= code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, TimeoutError,
                            socket.timeout, ConnectionError, socket.gaierror, OSError))


# --------------------------------------------------------------------------------------------- security


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tls_context(email: EmailSettings) -> ssl.SSLContext:
    """Certificate and host name verification; ``ca_file`` replaces the system CAs when set."""
    context = ssl.create_default_context(cafile=str(email.ca_file) if email.ca_file else None)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _Redactor:
    def __init__(self, username: str | None, password: str | None):
        secrets: set[str] = set()
        if password:
            secrets.add(password)
            for raw in (password, f"\0{username or ''}\0{password}", f"{username or ''}\0{password}"):
                secrets.add(base64.b64encode(raw.encode()).decode())
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "\u2026"


def _describe(exc: BaseException, redact: _Redactor) -> tuple[str, str]:
    if isinstance(exc, _ConnectionFailed):
        exc = exc.cause
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{rcpt}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in exc.recipients.items())
    elif isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        text = f"{exc.smtp_code} {error}"
    else:
        text = str(exc) or name
    return name, redact(text)


# ---------------------------------------------------------------------------------------------- session


class _Session:
    """One SMTP connection, opened on first use and re-opened after any failure."""

    def __init__(self, email: EmailSettings, password: str | None):
        self.email = email
        self.password = password
        self.smtp: smtplib.SMTP | None = None

    def connect(self) -> smtplib.SMTP:
        email = self.email
        try:
            if email.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(email.smtp_host, email.smtp_port,
                                                      timeout=email.timeout_seconds, context=tls_context(email))
            else:
                smtp = smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=email.timeout_seconds)
            try:
                smtp.ehlo()
                if email.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise StartTLSNotOffered(
                            f"{email.smtp_host}:{email.smtp_port} does not offer STARTTLS; refusing to send "
                            "(and log in) in clear: fix the server, or use security = \"tls\" for implicit TLS")
                    smtp.starttls(context=tls_context(email))
                    smtp.ehlo()
                if email.username:
                    smtp.login(email.username, self.password or "")
            except BaseException:
                _close(smtp)
                raise
        except Exception as exc:
            raise _ConnectionFailed(exc) from exc
        self.smtp = smtp
        return smtp

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        smtp = self.smtp or self.connect()
        try:
            refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        except Exception:
            self.close()
            raise
        if refused:  # some (not all) recipients refused: a message has one, so this is belt and braces
            self.close()
            raise smtplib.SMTPRecipientsRefused(refused)

    def close(self) -> None:
        if self.smtp is not None:
            _close(self.smtp)
            self.smtp = None


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except Exception:
        with contextlib.suppress(Exception):
            smtp.close()


# ---------------------------------------------------------------------------------------------- deliver


def _recipients(message: EmailMessage) -> list[str]:
    fields = [str(v) for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
    return [address for _, address in getaddresses(fields) if address]


def _subject(message: EmailMessage) -> str:
    return str(message.get("Subject", ""))


def _eml_name(index: int, recipient: str) -> str:
    return f"{index:02d}-{_UNSAFE_FILENAME.sub('_', recipient)[:120] or 'unknown'}.eml"


def deliver(settings: Settings, messages: list[EmailMessage], *, dry_run_dir: Path | None = None,
            sleep: Callable[[float], None] = time.sleep) -> DeliveryResult:
    """Send every message (or write it to ``dry_run_dir/<nn>-<recipient>.eml``); never raises.

    ``sleep`` is the backoff's sleep (tests pass a recorder).
    """
    email = settings.email
    result = DeliveryResult(dry_run=dry_run_dir is not None)
    redact = _Redactor(email.username, None)
    try:
        if dry_run_dir is not None:
            _write_all(messages, Path(dry_run_dir), email, result)
        else:
            fatal: tuple[str, str] | None = None
            password = None
            if email.security == "none" and not is_loopback(email.smtp_host):
                fatal = ("InsecureTransportRefused",
                         f"security = \"none\" is only allowed for a loopback host, not {email.smtp_host!r}: use "
                         "\"starttls\" or \"tls\"")
            elif messages:
                try:
                    password = resolve_password(email)
                except Exception as exc:
                    fatal = (type(exc).__name__, str(exc))
            redact = _Redactor(email.username, password)
            _send_all(messages, email, password, fatal, redact, result, sleep)
    except Exception as exc:  # a bug of ours must not stop the run either
        log.error("e-mail delivery stopped unexpectedly: %s", type(exc).__name__)
        done = len(result.sent) + len(result.failed)
        name, text = _describe(exc, redact)
        for message in messages[done:]:
            label = ", ".join(_recipients(message)) or "(none)"
            result.failed.append(FailedMessage(label, _subject(message), name, text, 0))
    return result


def _too_large(message: EmailMessage, email: EmailSettings) -> MessageTooLarge | None:
    size = message_size(message)
    if size <= email.max_message_bytes:
        return None
    dropped = message.get(DROPPED_HEADER)
    without = f" even without its {dropped} attachment" if dropped else ""
    return MessageTooLarge(f"message is {size:,} bytes, over [email] max_message_bytes = "
                           f"{email.max_message_bytes:,}{without}; not sent")


def _write_all(messages: list[EmailMessage], folder: Path, email: EmailSettings, result: DeliveryResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, message in enumerate(messages, start=1):
        recipients = _recipients(message)
        label = ", ".join(recipients) or "(none)"
        too_large = _too_large(message, email)
        if too_large is not None:
            result.failed.append(FailedMessage(label, _subject(message), type(too_large).__name__, str(too_large),
                                               0))
            continue
        path = folder / _eml_name(index, recipients[0] if recipients else "unknown")
        data = message.as_bytes()
        path.write_bytes(data)
        result.sent.append(SentMessage(label, _subject(message), len(data), 0, path))
        log.info("dry run: wrote the message for %s to %s", label, path)


def _send_all(messages: list[EmailMessage], email: EmailSettings, password: str | None,
              fatal: tuple[str, str] | None, redact: _Redactor, result: DeliveryResult,
              sleep: Callable[[float], None]) -> None:
    session = _Session(email, password)
    try:
        for message in messages:
            recipients = _recipients(message)
            label = ", ".join(recipients) or "(none)"
            subject = _subject(message)
            if fatal is not None:
                result.failed.append(FailedMessage(label, subject, fatal[0], redact(fatal[1]), 0))
                log.error("e-mail to %s not sent: %s", label, fatal[0])
                continue
            too_large = _too_large(message, email) or (NoRecipient("the message has no To address")
                                                        if not recipients else None)
            if too_large is not None:
                result.failed.append(FailedMessage(label, subject, type(too_large).__name__, str(too_large), 0))
                log.error("e-mail to %s not sent: %s", label, type(too_large).__name__)
                continue
            attempts = 0
            try:
                for attempt in Retrying(
                        stop=stop_after_attempt(email.retries + 1),
                        wait=wait_exponential_jitter(initial=RETRY_WAIT_INITIAL, max=RETRY_WAIT_MAX,
                                                     jitter=RETRY_JITTER),
                        retry=retry_if_exception(is_transient), sleep=sleep, reraise=True):
                    with attempt:
                        attempts = attempt.retry_state.attempt_number
                        if attempts > 1:
                            log.warning("retrying the e-mail to %s (attempt %d)", label, attempts)
                        session.send(message, email.sender, recipients)
            except (Exception, RetryError) as exc:
                name, text = _describe(exc, redact)
                result.failed.append(FailedMessage(label, subject, name, text, attempts))
                log.error("e-mail to %s failed after %d attempt(s): %s", label, attempts, name)
                if isinstance(exc, _ConnectionFailed):
                    # Nothing will get through this connection: bad login, bad certificate, no STARTTLS,
                    # or a server still unreachable after the retries.
                    fatal = (name, f"not attempted after an earlier connection failure: {text}")
                continue
            result.sent.append(SentMessage(label, subject, message_size(message), attempts))
            log.info("e-mail sent to %s (%d bytes, %d attempt(s))", label, message_size(message), attempts)
    finally:
        session.close()

"""The SMTP password: from the environment variable ``[email] password_env`` or the Prefect Secret block
``[email] password_secret_block``, never from the config file. Neither the password nor anything derived
from it appears in an error message."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flows.settings import EmailSettings


class MissingPasswordError(RuntimeError):
    """``[email] username`` is set but no password can be read."""


def resolve_password(email: EmailSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The password to log in with, or None when ``username`` is unset (no login).

    The environment variable wins when both it and a Secret block are configured. Raises
    :class:`MissingPasswordError` naming where it looked (never what it found).
    """
    if not email.username:
        return None
    env = os.environ if environ is None else environ
    if email.password_env and env.get(email.password_env):
        return env[email.password_env]
    if email.password_secret_block:
        try:
            from prefect.blocks.system import Secret

            value = Secret.load(email.password_secret_block).get()
        except Exception as exc:  # no Prefect server, no such block, no permission
            raise MissingPasswordError(
                f"could not read the SMTP password from the Prefect Secret block "
                f"{email.password_secret_block!r} ({type(exc).__name__})") from None
        if value:
            return str(value)
    places = []
    if email.password_env:
        places.append(f"the environment variable {email.password_env}")
    if email.password_secret_block:
        places.append(f"the Prefect Secret block {email.password_secret_block!r}")
    where = " or ".join(places) or "nowhere ([email] password_env and password_secret_block are both unset)"
    raise MissingPasswordError(f"[email] username is set but no SMTP password was found in {where}")

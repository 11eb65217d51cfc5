"""Sending one e-mail over SMTP (plain, STARTTLS or SSL, optional login). The only place that talks SMTP.

The password is passed in by the caller (read from an env var or a Prefect Secret block at the entry) and
never appears in an error message or a log line.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence

from balkanwatch.config import SmtpSettings
from balkanwatch.errors import DeliveryError


def send(raw: bytes, sender: str, recipients: Sequence[str], s: SmtpSettings, *, username: str = "",
         password: str = "") -> dict[str, str]:
    """Deliver `raw`, or raise DeliveryError when no recipient got it (nothing is retried here: the outbox
    retries). When the server took it for some recipients and refused others, it has gone out: the refused
    ones are returned ({address: the server's answer}), not raised, so that the outbox does not send it again
    to those who have it."""
    where = f"{s.host}:{s.port} ({s.security})"
    try:
        context = ssl.create_default_context(cafile=s.ca_file or None)   # certificates always verified
        if s.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if username:
                client.login(username, password)
            refused = client.sendmail(sender, list(recipients), raw)
        finally:
            _close(client)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP {where}: login refused for user {username!r} (code {exc.smtp_code})") from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {where}: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}") from exc
    return {address: f"{code} {_text(answer)}" for address, (code, answer) in sorted(refused.items())}


def _close(client: smtplib.SMTP) -> None:
    """Say QUIT and close. Once the server has taken the message (DATA answered 250) it is delivered, and how
    the server answers QUIT, or whether it is still there, no longer matters: failing here made the outbox
    send the message again (a server that answered QUIT with 421 got every message twice)."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

"""Notifications: an outbox of webhook and e-mail messages, delivered at least once.

A playbook run calls :func:`enqueue` inside its own transaction, so a notification
exists exactly when the action that caused it does. :func:`deliver_pending` later
routes each notification into one outbox row per configured channel (every webhook
in ``notifications.webhooks``, and e-mail when ``notifications.smtp`` is set) and
sends the rows that are due.

Delivery is at least once. A row is marked sent only after a 2xx answer (or the mail
server's acceptance); if kenko stops between sending and marking, the row stays
pending and is sent again by the next run. Every attempt for a row carries the same
``X-Kenko-Delivery`` header (and e-mail ``Message-ID``), the row's outbox id, so a
receiver drops repeats by remembering the ids it has seen. A dedupe key is routed
to each channel once, so the same notification is never queued twice.

Run one delivery at a time per store (``kenko run`` does); two concurrent runs may
both send a due row, which receivers then drop as a repeat.

Targets must be on ``notifications.allowed_hosts`` (the settings refuse any other);
a row whose channel is not configured or allowed is refused: kept with the reason,
never contacted, and checked again by each later delivery run, so fixing the
configuration sends it. A row that keeps failing waits longer after each
failure (``backoff_seconds`` doubling up to ``backoff_cap_seconds``) and after
``max_attempts`` is kept as dead. Secrets come from environment variables and never
reach logs or the outbox; webhooks are logged by name since URLs may hold tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from kenko.errors import KenkoError
from kenko.settings import (
    NotificationSettings,
    Settings,
    SmtpSettings,
    WebhookSettings,
)
from kenko.store import Store
from kenko.store.schema import outbox

log = logging.getLogger(__name__)

EMAIL = "email"
_ROUTE = "*"  # channel of a notification not yet routed to its channels

Target = WebhookSettings | SmtpSettings


@dataclass
class DeliveryReport:
    """What one :func:`deliver_pending` call did with the rows that were due."""

    sent: int = 0
    failed: int = 0  # reached max_attempts in this call; kept as dead
    retry_later: int = 0  # failed in this call; next_attempt_at set in the future
    refused: int = 0  # target not allowed or no longer configured; never sent


@dataclass
class _Outcome:
    status: str  # sent | pending | dead | refused
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None


class _Failure(Exception):
    """One failed attempt; ``quick_retry`` False when trying again now cannot help."""

    def __init__(self, reason: str, *, quick_retry: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.quick_retry = quick_retry


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead off the allow-list, so a 3xx is an answer, not a hop.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def enqueue(
    conn: sa.Connection,
    store: Store,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str,
) -> bool:
    """Queue a notification inside the caller's transaction; False if already queued.

    ``payload`` is a JSON object (dates become ISO strings). Its optional ``text``
    is the one-line message (the whole Slack body, the first line of an e-mail) and
    its optional ``subject`` the e-mail subject. A notification with the same
    ``dedupe_key`` is never queued or sent again, whatever its payload. ``store``
    is the store ``conn`` belongs to; channels are chosen at delivery, from the
    settings :func:`deliver_pending` is given.
    """
    seen = conn.execute(
        sa.select(outbox.c.outbox_id).where(outbox.c.dedupe_key == dedupe_key).limit(1)
    ).first()
    if seen is not None:
        log.debug("notification %s already queued", dedupe_key)
        return False
    now = _utc(None)
    conn.execute(
        outbox.insert().values(
            outbox_id=str(uuid.uuid4()),
            dedupe_key=dedupe_key,
            channel=_ROUTE,
            kind=kind,
            payload=json.dumps(payload, default=_json_default, sort_keys=True),
            status="new",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def deliver_pending(
    store: Store,
    settings: Settings,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> DeliveryReport:
    """Route queued notifications to their channels and send every row that is due.

    Each due row gets up to ``tries_per_run`` attempts, ``sleep`` waiting between
    them; one still failing is left for a later call. ``now`` (UTC) decides which
    rows are due and when failed ones are next due.
    """
    config = settings.notifications
    at = _utc(now)
    targets = _targets(config)
    _route(store, list(targets), at)

    report = DeliveryReport()
    reasons: dict[str, int] = {}
    still_refused = _reconsider_refused(store, targets, config, at)
    due = store.fetch(
        sa.select(outbox)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= at)
        .order_by(outbox.c.created_at, outbox.c.outbox_id)
    )
    for row in due:
        outcome = _deliver(row, targets.get(row["channel"]), config, at, sleep)
        with store.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.outbox_id == row["outbox_id"])
                .values(**vars(outcome))
            )
        _count(report, outcome.status)
        if outcome.status != "sent" and outcome.last_error is not None:
            reasons[outcome.last_error] = reasons.get(outcome.last_error, 0) + 1

    if due or still_refused:
        summary = (
            f"notifications: {report.sent} sent, {report.retry_later} to retry "
            f"later, {report.failed} failed, {report.refused} refused"
        )
        if still_refused:
            summary += f", {still_refused} still refused (`kenko notifications`)"
        if reasons:
            why = "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items()))
            log.warning("%s (%s)", summary, why)
        elif still_refused:
            log.warning("%s", summary)
        else:
            log.info("%s", summary)
    return report


STATUSES = ("new", "pending", "sent", "dead", "refused", "dropped")
DROPPABLE = ("new", "pending", "dead", "refused")


def list_outbox(store: Store, *, status: str | None = None) -> list[dict[str, Any]]:
    """Notifications as the outbox holds them, oldest first: the channel rows and
    the queued ones not yet routed (channel ``*``, status ``new``)."""
    query = sa.select(outbox).where(
        sa.or_(outbox.c.channel != _ROUTE, outbox.c.status != "routed")
    )
    if status is not None:
        query = query.where(outbox.c.status == status)
    return store.fetch(query.order_by(outbox.c.created_at, outbox.c.channel))


def drop(store: Store, status: str) -> int:
    """Mark every notification with ``status`` dropped (kept, never sent); how many.

    Dropped rows keep their dedupe key, so the same notification is not queued again.
    """
    if status not in DROPPABLE:
        raise KenkoError(
            f"cannot drop notifications with status {status!r}",
            fix=f"use one of {', '.join(DROPPABLE)}",
        )
    with store.begin() as conn:
        result = conn.execute(
            outbox.update().where(outbox.c.status == status).values(status="dropped")
        )
    log.info("dropped %d %s notification(s)", result.rowcount, status)
    return int(result.rowcount)


def read_outbox(store: Store, *, status: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows for channels (not the queued originals), oldest first."""
    query = sa.select(outbox).where(outbox.c.channel != _ROUTE)
    if status is not None:
        query = query.where(outbox.c.status == status)
    return store.fetch(query.order_by(outbox.c.created_at, outbox.c.channel))


# -- routing -------------------------------------------------------------------------


def _targets(config: NotificationSettings) -> dict[str, Target]:
    targets: dict[str, Target] = {f"webhook:{w.name}": w for w in config.webhooks}
    if config.smtp is not None:
        targets[EMAIL] = config.smtp
    return targets


def _route(store: Store, channels: list[str], at: datetime) -> None:
    """One pending row per channel for each queued notification."""
    with store.begin() as conn:
        queued = conn.execute(sa.select(outbox).where(outbox.c.status == "new")).all()
        if not queued:
            return
        if not channels:
            log.warning(
                "%d notifications wait for a channel; set notifications.webhooks "
                "or notifications.smtp in kenko.yaml",
                len(queued),
            )
            return
        keys = [q.dedupe_key for q in queued]
        routed = set(
            conn.execute(
                sa.select(outbox.c.dedupe_key, outbox.c.channel).where(
                    outbox.c.dedupe_key.in_(keys)
                )
            ).all()
        )
        rows = [
            {
                "outbox_id": str(uuid.uuid4()),
                "dedupe_key": q.dedupe_key,
                "channel": channel,
                "kind": q.kind,
                "payload": q.payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": q.created_at,
            }
            for q in queued
            for channel in channels
            if (q.dedupe_key, channel) not in routed
        ]
        if rows:
            conn.execute(outbox.insert(), rows)
        conn.execute(
            outbox.update()
            .where(outbox.c.outbox_id.in_([q.outbox_id for q in queued]))
            .values(status="routed")
        )


def _reconsider_refused(
    store: Store, targets: dict[str, Target], config: NotificationSettings, at: datetime
) -> int:
    """Make refused rows due again when the configuration now allows their target;
    how many stay refused."""
    with store.begin() as conn:
        refused = conn.execute(
            sa.select(outbox.c.outbox_id, outbox.c.channel).where(
                outbox.c.status == "refused"
            )
        ).all()
        allowed = [
            r.outbox_id
            for r in refused
            if _refusal(r.channel, targets.get(r.channel), config) is None
        ]
        if allowed:
            conn.execute(
                outbox.update()
                .where(outbox.c.outbox_id.in_(allowed))
                .values(status="pending", next_attempt_at=at, last_error=None)
            )
            log.info("%d refused notification(s) are allowed now", len(allowed))
    return len(refused) - len(allowed)


# -- delivery ------------------------------------------------------------------------


def _deliver(
    row: dict[str, Any],
    target: Target | None,
    config: NotificationSettings,
    at: datetime,
    sleep: Callable[[float], object],
) -> _Outcome:
    refusal = _refusal(row["channel"], target, config)
    if refusal is not None or target is None:
        reason = refusal or "not configured"
        log.debug("notification %s refused: %s", row["outbox_id"], reason)
        return _Outcome("refused", row["attempts"], at, last_error=reason)

    attempts = row["attempts"]
    for tried in range(1, config.tries_per_run + 1):
        attempts += 1
        try:
            _send(row, target, config.timeout_seconds)
        except _Failure as failure:
            log.debug(
                "notification %s to %s: attempt %d of %d failed: %s",
                row["outbox_id"],
                row["channel"],
                attempts,
                config.max_attempts,
                failure.reason,
            )
            if attempts >= config.max_attempts:
                return _Outcome("dead", attempts, at, last_error=failure.reason)
            delay = _backoff(config, attempts)
            if tried == config.tries_per_run or not failure.quick_retry:
                later = at + timedelta(seconds=delay)
                return _Outcome("pending", attempts, later, last_error=failure.reason)
            sleep(delay)
        else:
            log.debug("notification %s sent to %s", row["outbox_id"], row["channel"])
            return _Outcome("sent", attempts, at, sent_at=_utc(None))
    raise AssertionError("unreachable: every try returns")  # pragma: no cover


def _refusal(
    channel: str, target: Target | None, config: NotificationSettings
) -> str | None:
    if target is None:
        return f"channel {channel!r} is no longer configured in notifications"
    if isinstance(target, SmtpSettings):
        host: str | None = target.host
    else:
        parts = urlsplit(target.url)
        if parts.scheme not in ("http", "https"):
            return f"webhook {target.name!r}: only http and https URLs are delivered"
        host = parts.hostname
    allowed = {h.lower() for h in config.allowed_hosts}
    if host is None or host.lower() not in allowed:
        return (
            f"host {host!r} is not in notifications.allowed_hosts; add it there "
            "if kenko may send to it"
        )
    return None


def _backoff(config: NotificationSettings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure."""
    return float(
        min(config.backoff_cap_seconds, config.backoff_seconds * 2 ** (attempts - 1))
    )


def _send(row: dict[str, Any], target: Target, timeout: float) -> None:
    if isinstance(target, SmtpSettings):
        _mail(row, target, timeout)
    else:
        _post(row, target, timeout)


def _post(row: dict[str, Any], hook: WebhookSettings, timeout: float) -> None:
    body = _webhook_body(row, hook)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "kenko",
        "X-Kenko-Delivery": row["outbox_id"],
    }
    if hook.secret_env:
        secret = _env(hook.secret_env, f"secret_env of webhook {hook.name!r}")
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Kenko-Signature"] = f"sha256={digest}"
    request = urllib.request.Request(hook.url, data=body, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _Failure(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Failure(f"no answer within {timeout:g} s") from None
        raise _Failure(f"cannot connect: {exc.reason}") from None
    except TimeoutError:
        raise _Failure(f"no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Failure(f"connection failed: {exc!r}") from None
    if not 200 <= status < 300:
        raise _Failure(f"HTTP {status}")


def _mail(row: dict[str, Any], smtp: SmtpSettings, timeout: float) -> None:
    payload = json.loads(row["payload"])
    message = EmailMessage()
    message["From"] = smtp.from_address
    message["To"] = ", ".join(smtp.to)
    message["Subject"] = str(payload.get("subject") or f"kenko: {row['kind']}")
    message["Message-ID"] = f"<{row['outbox_id']}@kenko>"
    message["X-Kenko-Delivery"] = row["outbox_id"]
    message.set_content(_email_text(row["kind"], payload))
    login = None
    if smtp.username_env:
        password = (
            _env(smtp.password_env, "notifications.smtp.password_env")
            if smtp.password_env
            else ""
        )
        login = (_env(smtp.username_env, "notifications.smtp.username_env"), password)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if login is not None:
                client.login(*login)
            client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else error
        raise _Failure(f"SMTP {exc.smtp_code} {text}") from None
    except TimeoutError:
        raise _Failure(f"no answer within {timeout:g} s") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise _Failure(f"SMTP failed: {exc}") from None


def _env(name: str, setting: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise _Failure(
            f"environment variable {name} ({setting}) is not set", quick_retry=False
        )
    return value


# -- bodies --------------------------------------------------------------------------


def _webhook_body(row: dict[str, Any], hook: WebhookSettings) -> bytes:
    payload = json.loads(row["payload"])
    if hook.slack:
        doc: dict[str, Any] = {"text": _text(row["kind"], payload)}
    else:
        doc = {
            "delivery_id": row["outbox_id"],
            "kind": row["kind"],
            "dedupe_key": row["dedupe_key"],
            "created_at": row["created_at"].isoformat() + "Z",
            "payload": payload,
        }
    return json.dumps(doc, sort_keys=True).encode()


def _text(kind: str, payload: dict[str, Any]) -> str:
    """The one-line message: the payload's ``text``, else its fields."""
    if isinstance(payload.get("text"), str):
        return str(payload["text"])
    fields = ", ".join(f"{k}={v}" for k, v in sorted(payload.items()))
    return f"kenko {kind}: {fields}"


def _email_text(kind: str, payload: dict[str, Any]) -> str:
    details = [
        f"{k}: {v}" for k, v in sorted(payload.items()) if k not in ("text", "subject")
    ]
    return "\n".join([_text(kind, payload), "", *details]) + "\n"


# -- helpers -------------------------------------------------------------------------


def _count(report: DeliveryReport, status: str) -> None:
    if status == "sent":
        report.sent += 1
    elif status == "pending":
        report.retry_later += 1
    elif status == "dead":
        report.failed += 1
    else:
        report.refused += 1


def _utc(moment: datetime | None) -> datetime:
    """``moment`` (default: now) as the store keeps time: UTC without a zone."""
    if moment is None:
        moment = datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _json_default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"notification payload value {value!r} is not JSON")

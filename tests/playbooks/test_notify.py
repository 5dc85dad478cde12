"""The notification outbox against a real store, a local webhook and a local SMTP sink.

Both receivers listen on 127.0.0.1 only; a refused target is never contacted.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import logging
import os
import signal
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from kenko.errors import SettingsError
from kenko.playbooks.notify import (
    DeliveryReport,
    deliver_pending,
    enqueue,
    read_outbox,
)
from kenko.settings import (
    NotificationSettings,
    Settings,
    SmtpSettings,
    WebhookSettings,
    read_settings,
)
from kenko.store import Store
from kenko.store.schema import outbox

T0 = datetime(2024, 3, 1, 9, 0)
SECRET = "hook-secret-5f2a9c"
PASSWORD = "smtp-pass-81d4e7"
TOKEN = "T0K3N-b7c1"  # Slack-style webhook URLs carry a token in the path
PAYLOAD = {
    "text": "Acme Corp fell to 41 (red): Renewal review opened for ana",
    "subject": "Acme Corp needs a renewal review",
    "account_id": "acme",
    "score": 41.0,
    "as_of": "2024-03-01",
}


# -- a local webhook receiver ------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers request n with script[n] (the last entry repeats): an HTTP status,
    "timeout" (no answer until the test ends), "redirect", or "crash" (kills the
    sender's process, pid ``victim``, before answering)."""

    url: str
    script: list[str | int] = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    victim: int | None = None

    def answer(self) -> str | int:
        return self.script[min(len(self.requests), len(self.script)) - 1]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.requests.append(Received(dict(self.headers.items()), body))
            answer = hook.answer()
            if answer == "crash":
                assert hook.victim is not None
                os.kill(hook.victim, signal.SIGKILL)
                return
            if answer == "timeout":
                hook.released.wait(10)
                return
            if answer == "redirect":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.2:9/elsewhere")
            else:
                self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = Receiver(url=f"http://127.0.0.1:{server.server_port}/hook/{TOKEN}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.released.set()
    server.shutdown()
    server.server_close()
    thread.join()


# -- a local SMTP sink -------------------------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    login: list[bytes]
    message: email.message.EmailMessage


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        sink: list[Mail] = self.server.sink  # type: ignore[attr-defined]
        sender, recipients, login = "", [], []
        self.reply("220 sink ready")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-sink", "250 AUTH PLAIN")
            elif verb == "AUTH":
                blob = command.split(" ")[2]
                login = base64.b64decode(blob).split(b"\0")[1:]
                self.reply("235 ok")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip("<> ")
                self.reply("250 ok")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip("<> "))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                data = data.replace(b"\r\n", b"\n")
                parsed = email.message_from_bytes(data, policy=email.policy.default)
                assert isinstance(parsed, email.message.EmailMessage)
                sink.append(Mail(sender, recipients, login, parsed))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not here")

    def reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[Mail]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.sink = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.sink  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join()


# -- helpers -----------------------------------------------------------------------


def settings_for(*webhooks: dict[str, Any], **notifications: Any) -> Settings:
    return Settings.model_validate(
        {
            "notifications": {
                "webhooks": list(webhooks),
                "allowed_hosts": ["127.0.0.1"],
                "timeout_seconds": 0.3,
                "backoff_seconds": 1,
                "backoff_cap_seconds": 60,
                **notifications,
            }
        }
    )


def queue(store: Store, key: str = "acme:renewal-review:2024-03-01") -> bool:
    with store.begin() as conn:
        return enqueue(conn, store, "action_opened", PAYLOAD, dedupe_key=key)


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KENKO_TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("KENKO_TEST_SMTP_USER", "kenko-bot")
    monkeypatch.setenv("KENKO_TEST_SMTP_PASSWORD", PASSWORD)


# -- tests -------------------------------------------------------------------------


def test_notification_settings__every_setting_is_documented() -> None:
    undocumented = [
        f"{model.__name__}.{name}"
        for model in (NotificationSettings, WebhookSettings, SmtpSettings)
        for name, info in model.model_fields.items()
        if not info.description
    ]
    assert undocumented == []


def test_notification_settings__repeated_webhook_name_is_refused() -> None:
    hook = {"name": "cs", "url": "http://127.0.0.1/"}
    with pytest.raises(ValueError, match=r"repeated: \['cs'\]"):
        settings_for(hook, hook)


def test_deliver__failing_then_timing_out_receiver_gets_it_exactly_once_later(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = [500, "timeout", 200]
    settings = settings_for({"name": "cs", "url": receiver.url}, tries_per_run=2)
    sleeps: list[float] = []
    assert queue(store) is True

    first = deliver_pending(store, settings, now=T0, sleep=sleeps.append)
    [row] = read_outbox(store)
    not_yet = deliver_pending(store, settings, now=T0 + timedelta(seconds=1))
    due = deliver_pending(store, settings, now=T0 + timedelta(seconds=2))
    after = deliver_pending(store, settings, now=T0 + timedelta(hours=1))

    assert first == DeliveryReport(retry_later=1)
    assert sleeps == [1.0]
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert row["next_attempt_at"] == T0 + timedelta(seconds=2)
    assert row["last_error"] == "no answer within 0.3 s"
    assert not_yet == DeliveryReport()
    assert due == DeliveryReport(sent=1)
    assert after == DeliveryReport()
    assert len(receiver.requests) == 3
    ids = {r.headers["X-Kenko-Delivery"] for r in receiver.requests}
    assert ids == {row["outbox_id"]}
    [done] = read_outbox(store)
    assert (done["status"], done["attempts"], done["last_error"]) == ("sent", 3, None)
    assert done["sent_at"] is not None


def test_deliver__quick_retries_within_one_run_back_off_exponentially_to_the_cap(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = [500, 503, 500, 502, 200]
    settings = settings_for(
        {"name": "cs", "url": receiver.url},
        tries_per_run=5,
        backoff_cap_seconds=3,
    )
    sleeps: list[float] = []
    queue(store)

    report = deliver_pending(store, settings, now=T0, sleep=sleeps.append)

    assert report == DeliveryReport(sent=1)
    assert sleeps == [1.0, 2.0, 3.0, 3.0]
    assert len(receiver.requests) == 5


def test_deliver__after_max_attempts_the_row_is_kept_dead_and_not_retried(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = [500]
    settings = settings_for(
        {"name": "cs", "url": receiver.url}, tries_per_run=2, max_attempts=3
    )
    sleeps: list[float] = []
    queue(store)

    reports = [
        deliver_pending(
            store, settings, now=T0 + timedelta(days=d), sleep=sleeps.append
        )
        for d in range(4)
    ]

    assert reports == [
        DeliveryReport(retry_later=1),
        DeliveryReport(failed=1),
        DeliveryReport(),
        DeliveryReport(),
    ]
    assert len(receiver.requests) == 3
    assert sleeps == [1.0]
    [row] = read_outbox(store)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert row["last_error"] == "HTTP 500 Internal Server Error"


def test_deliver__body_is_signed_with_hmac_of_the_exact_bytes(
    store: Store, receiver: Receiver, secrets: None
) -> None:
    hook = {"name": "cs", "url": receiver.url, "secret_env": "KENKO_TEST_HOOK_SECRET"}
    queue(store)

    report = deliver_pending(store, settings_for(hook), now=T0)

    assert report == DeliveryReport(sent=1)
    [got] = receiver.requests
    [row] = read_outbox(store)
    assert hmac.compare_digest(got.headers["X-Kenko-Signature"], signature(got.body))
    assert got.headers["Content-Type"] == "application/json"
    assert json.loads(got.body) == {
        "delivery_id": row["outbox_id"],
        "kind": "action_opened",
        "dedupe_key": "acme:renewal-review:2024-03-01",
        "created_at": row["created_at"].isoformat() + "Z",
        "payload": PAYLOAD,
    }


def test_deliver__unsigned_webhook_has_no_signature_header(
    store: Store, receiver: Receiver
) -> None:
    queue(store)

    deliver_pending(store, settings_for({"name": "cs", "url": receiver.url}), now=T0)

    [got] = receiver.requests
    assert "X-Kenko-Signature" not in got.headers


def test_deliver__missing_secret_is_a_failed_attempt_never_an_unsigned_post(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KENKO_TEST_HOOK_SECRET", raising=False)
    hook = {"name": "cs", "url": receiver.url, "secret_env": "KENKO_TEST_HOOK_SECRET"}
    sleeps: list[float] = []
    queue(store)

    report = deliver_pending(store, settings_for(hook), now=T0, sleep=sleeps.append)

    assert report == DeliveryReport(retry_later=1)
    assert receiver.requests == []
    assert sleeps == []
    [row] = read_outbox(store)
    assert row["last_error"] == (
        "environment variable KENKO_TEST_HOOK_SECRET (secret_env of webhook 'cs') "
        "is not set"
    )


def test_deliver__slack_webhook_gets_a_text_body(
    store: Store, receiver: Receiver
) -> None:
    queue(store)

    settings = settings_for({"name": "slack", "url": receiver.url, "slack": True})
    deliver_pending(store, settings, now=T0)

    [got] = receiver.requests
    assert json.loads(got.body) == {"text": PAYLOAD["text"]}


def off_the_list(settings: Settings) -> Settings:
    """``settings`` with an empty allow-list, unvalidated: an older, laxer config."""
    config = settings.notifications.model_copy(update={"allowed_hosts": []})
    return settings.model_copy(update={"notifications": config})


def test_deliver__host_not_on_allow_list_is_refused_and_never_contacted(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on 127.0.0.2:9: a connection attempt would fail, not refuse.
    hook = {"name": "ops", "url": "http://127.0.0.2:9/"}
    settings = off_the_list(settings_for(hook, allowed_hosts=["127.0.0.2"]))
    queue(store)

    with caplog.at_level(logging.WARNING, logger="kenko"):
        first = deliver_pending(store, settings, now=T0)
        again = deliver_pending(store, settings, now=T0 + timedelta(days=1))

    reason = (
        "host '127.0.0.2' is not in notifications.allowed_hosts; add it there if "
        "kenko may send to it"
    )
    assert first == DeliveryReport(refused=1)
    assert again == DeliveryReport()
    [row] = read_outbox(store)
    assert (row["status"], row["attempts"], row["last_error"]) == ("refused", 0, reason)
    assert caplog.messages == [
        f"notifications: 0 sent, 0 to retry later, 0 failed, 1 refused (1 x {reason})",
        "notifications: 0 sent, 0 to retry later, 0 failed, 0 refused, 1 still "
        "refused (`kenko notifications`)",
    ]


def test_deliver__refused_row_is_sent_once_the_config_allows_its_target(
    store: Store, receiver: Receiver
) -> None:
    settings = settings_for({"name": "cs", "url": receiver.url})
    queue(store)
    refused = deliver_pending(store, off_the_list(settings), now=T0)

    fixed = deliver_pending(store, settings, now=T0 + timedelta(hours=1))

    assert (refused, fixed) == (DeliveryReport(refused=1), DeliveryReport(sent=1))
    [row] = read_outbox(store)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert len(receiver.requests) == 1


def test_deliver__row_of_a_removed_channel_is_sent_when_the_channel_is_back(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = [500, 200]
    settings = settings_for({"name": "cs", "url": receiver.url}, tries_per_run=1)
    queue(store)
    failed = deliver_pending(store, settings, now=T0)

    removed = deliver_pending(store, settings_for(), now=T0 + timedelta(hours=1))
    back = deliver_pending(store, settings, now=T0 + timedelta(hours=2))

    assert (failed, removed, back) == (
        DeliveryReport(retry_later=1),
        DeliveryReport(refused=1),
        DeliveryReport(sent=1),
    )
    [row] = read_outbox(store)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(receiver.requests) == 2


def test_deliver__redirect_is_not_followed_off_the_allow_list(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = ["redirect"]
    settings = settings_for({"name": "cs", "url": receiver.url}, tries_per_run=1)
    queue(store)

    report = deliver_pending(store, settings, now=T0)

    assert report == DeliveryReport(retry_later=1)
    assert len(receiver.requests) == 1
    [row] = read_outbox(store)
    assert row["last_error"] == "HTTP 302 Found"


def test_enqueue__same_dedupe_key_is_queued_and_sent_once(
    store: Store, receiver: Receiver
) -> None:
    settings = settings_for({"name": "cs", "url": receiver.url})

    assert queue(store) is True
    assert queue(store) is False
    deliver_pending(store, settings, now=T0)
    assert queue(store) is False
    deliver_pending(store, settings, now=T0 + timedelta(days=1))

    assert len(receiver.requests) == 1
    assert [r["channel"] for r in read_outbox(store)] == ["webhook:cs"]


def test_enqueue__rolled_back_transaction_leaves_nothing_queued(store: Store) -> None:
    with pytest.raises(ZeroDivisionError), store.begin() as conn:
        enqueue(conn, store, "action_opened", PAYLOAD, dedupe_key="k")
        _ = 1 / 0

    assert store.fetch(sa.select(outbox)) == []


def test_deliver__each_channel_gets_its_own_row_and_delivery_id(
    store: Store, receiver: Receiver, smtp_sink: tuple[int, list[Mail]]
) -> None:
    port, mails = smtp_sink
    settings = settings_for(
        {"name": "cs", "url": receiver.url},
        {"name": "slack", "url": receiver.url, "slack": True},
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "from": "k@x.test",
            "to": ["a@x.test"],
            "starttls": False,
        },
    )
    queue(store)

    report = deliver_pending(store, settings, now=T0)

    rows = read_outbox(store)
    assert report == DeliveryReport(sent=3)
    assert sorted(r["channel"] for r in rows) == [
        "email",
        "webhook:cs",
        "webhook:slack",
    ]
    assert len({r["outbox_id"] for r in rows}) == 3
    assert len(receiver.requests) == 2
    assert len(mails) == 1


def test_deliver__queued_without_any_channel_waits_until_one_is_configured(
    store: Store, receiver: Receiver
) -> None:
    queue(store)

    idle = deliver_pending(store, settings_for(), now=T0)
    configured = settings_for({"name": "cs", "url": receiver.url})
    later = deliver_pending(store, configured, now=T0 + timedelta(days=1))

    assert idle == DeliveryReport()
    assert later == DeliveryReport(sent=1)
    assert len(receiver.requests) == 1


def test_deliver__email_goes_to_the_smtp_server_as_plain_text(
    store: Store, smtp_sink: tuple[int, list[Mail]], secrets: None
) -> None:
    port, mails = smtp_sink
    settings = settings_for(
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "from": "kenko@example.test",
            "to": ["cs-team@example.test", "ana@example.test"],
            "username_env": "KENKO_TEST_SMTP_USER",
            "password_env": "KENKO_TEST_SMTP_PASSWORD",
            "starttls": False,
        }
    )
    queue(store)

    report = deliver_pending(store, settings, now=T0)

    assert report == DeliveryReport(sent=1)
    [row] = read_outbox(store)
    [mail] = mails
    assert mail.sender == "kenko@example.test"
    assert mail.recipients == ["cs-team@example.test", "ana@example.test"]
    assert mail.login == [b"kenko-bot", PASSWORD.encode()]
    assert mail.message["Subject"] == "Acme Corp needs a renewal review"
    assert mail.message["Message-ID"] == f"<{row['outbox_id']}@kenko>"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content() == (
        "Acme Corp fell to 41 (red): Renewal review opened for ana\n"
        "\n"
        "account_id: acme\n"
        "as_of: 2024-03-01\n"
        "score: 41.0\n"
    )


@pytest.mark.parametrize(
    ("notifications", "where", "message"),
    [
        (
            {"webhooks": [{"name": "ops", "url": "https://hooks.example.test/x"}]},
            "notifications.webhooks (line 5)",
            "webhooks[0] ('ops'): host 'hooks.example.test' is not in "
            "notifications.allowed_hosts; add 'hooks.example.test' to allowed_hosts "
            "if kenko may send to it",
        ),
        (
            {"webhooks": [{"name": "ops", "url": "ftp://127.0.0.1/x"}]},
            "notifications.webhooks[0].url (line 6)",
            "a webhook URL must start with http:// or https://, e.g. "
            "https://hooks.example.com/kenko (found 'ftp://127.0.0.1/x')",
        ),
        (
            {"webhooks": [{"name": "ops", "url": "not a url"}]},
            "notifications.webhooks[0].url (line 6)",
            "a webhook URL must start with http:// or https://, e.g. "
            "https://hooks.example.com/kenko (found 'not a url')",
        ),
        (
            {"webhooks": [{"name": "ops", "url": "https:///path-only"}]},
            "notifications.webhooks[0].url (line 6)",
            "a webhook URL needs a host, e.g. https://hooks.example.com/kenko "
            "(found 'https:///path-only')",
        ),
        (
            {"smtp": {"host": "mail.example.test", "from": "k@x.test", "to": ["a@x"]}},
            "notifications.smtp (line 5)",
            "host 'mail.example.test' is not in notifications.allowed_hosts; add "
            "'mail.example.test' to allowed_hosts if kenko may send mail through it",
        ),
    ],
)
def test_notification_settings__bad_target_is_a_settings_error_by_key_path(
    tmp_path: Any, notifications: dict[str, Any], where: str, message: str
) -> None:
    doc = {"notifications": {"allowed_hosts": ["127.0.0.1"], **notifications}}
    path = tmp_path / "kenko.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    with pytest.raises(SettingsError) as caught:
        read_settings(path)

    assert caught.value.problems == [(where, message)]


def test_deliver__secrets_and_webhook_urls_never_reach_logs_or_outbox(
    store: Store,
    receiver: Receiver,
    smtp_sink: tuple[int, list[Mail]],
    secrets: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.script = [500, 200]
    port, _ = smtp_sink
    settings = settings_for(
        {"name": "cs", "url": receiver.url, "secret_env": "KENKO_TEST_HOOK_SECRET"},
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "from": "kenko@example.test",
            "to": ["cs-team@example.test"],
            "username_env": "KENKO_TEST_SMTP_USER",
            "password_env": "KENKO_TEST_SMTP_PASSWORD",
            "starttls": False,
        },
        tries_per_run=1,
    )
    queue(store)

    with caplog.at_level(logging.DEBUG):
        deliver_pending(store, settings, now=T0)
        deliver_pending(store, settings, now=T0 + timedelta(days=1))

    stored = json.dumps(store.fetch(sa.select(outbox)), default=str)
    assert "attempt 1 of 5 failed: HTTP 500 Internal Server Error" in caplog.text
    for secret in (SECRET, PASSWORD, TOKEN, receiver.url):
        assert secret not in caplog.text
        assert secret not in stored


DELIVER = """
import sys
from kenko.playbooks.notify import deliver_pending
from kenko.settings import Settings
from kenko.store import Store

deliver_pending(Store(sys.argv[1]), Settings.model_validate_json(sys.argv[2]))
"""


def test_deliver__crash_between_send_and_mark_sends_again_with_same_delivery_id(
    store: Store, receiver: Receiver
) -> None:
    receiver.script = ["crash", 200]
    settings = settings_for({"name": "cs", "url": receiver.url}, timeout_seconds=5)
    queue(store)
    store.engine.dispose()  # DuckDB lets one process at a time hold the file

    sender = subprocess.Popen(
        [sys.executable, "-c", DELIVER, store.url, settings.model_dump_json()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    receiver.victim = sender.pid
    sender.communicate(timeout=60)
    [after_crash] = read_outbox(store)
    report = deliver_pending(store, settings)

    assert sender.returncode == -signal.SIGKILL
    assert (after_crash["status"], after_crash["attempts"]) == ("pending", 0)
    assert report == DeliveryReport(sent=1)
    ids = [r.headers["X-Kenko-Delivery"] for r in receiver.requests]
    assert ids == [after_crash["outbox_id"]] * 2

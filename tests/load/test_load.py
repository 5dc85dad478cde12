"""kenko.load on both stores: every row accepted, quarantined or a duplicate."""

from __future__ import annotations

import gzip
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from kenko.errors import DataError
from kenko.load import FileReport, load_files
from kenko.settings import EntitySource, Settings, ValueRule
from kenko.store import Store

NOW = datetime(2024, 6, 1)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def rows(store: Store, sql: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def counts(report: FileReport) -> tuple[int, int, int, int]:
    assert report.accepted + report.rejected + report.duplicates == report.rows_read
    return report.rows_read, report.accepted, report.rejected, report.duplicates


def load_accounts(store: Store, tmp_path: Path, *ids: str) -> None:
    text = "account_id\n" + "".join(f"{i}\n" for i in ids)
    load_files(store, Settings(), [write(tmp_path, "accounts.csv", text)], now=NOW)


EVENTS = Settings(
    events=EntitySource(
        files=["events*"],
        columns={"type": "event_type", "timestamp": "event_time"},
    )
)


def test_load__quarantine_holds_every_bad_row_with_its_reason(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A", "B")
    path = write(
        tmp_path,
        "events.csv",
        """
account_id,user_id,event_type,event_time,value
A,u1,login,2024-03-01T10:00:00,
,u1,login,2024-03-01T10:00:00,
X,u1,login,2024-03-01T10:00:00,
A,u1,,2024-03-01T10:00:00,
A,u1,login,not-a-time,
A,u1,login,2024-03-01T11:00:00,abc
A,u1,login,2030-01-01T00:00:00,
A,u1,login,2024-03-01T10:00:00,
B,,login,2024-03-02T10:00:00,5
A,u1,login,,
""",
    )
    [report] = load_files(store, EVENTS, [path], now=NOW)

    assert counts(report) == (10, 2, 7, 1)
    assert rows(
        store, "SELECT row, field, value, reason FROM quarantine ORDER BY row"
    ) == [
        (2, "account_id", None, "missing account_id"),
        (3, "account_id", "X", "unknown account 'X'"),
        (4, "type", None, "missing type"),
        (5, "timestamp", "not-a-time", "not a timestamp"),
        (6, "value", "abc", "not a number"),
        (
            7,
            "timestamp",
            "2030-01-01T00:00:00",
            "in the future (after 2024-06-02 00:00 UTC)",
        ),
        (10, "timestamp", None, "missing timestamp"),
    ]
    assert [(p.row, p.field) for p in report.problems][:2] == [
        (2, "account_id"),
        (3, "account_id"),
    ]
    assert rows(
        store,
        "SELECT account_id, user_id, event_type, ts, value FROM events ORDER BY ts",
    ) == [
        ("A", "u1", "login", datetime(2024, 3, 1, 10), None),
        ("B", None, "login", datetime(2024, 3, 2, 10), 5.0),
    ]
    assert rows(
        store,
        "SELECT rows_read, accepted, rejected, duplicates FROM loads "
        "WHERE entity = 'events'",
    ) == [(10, 2, 7, 1)]


def test_load__reloading_same_file_adds_nothing(store: Store, tmp_path: Path) -> None:
    accounts = write(tmp_path, "accounts.csv", "account_id,name\nA,Alpha\nB,Beta\n")
    subs = write(
        tmp_path,
        "subscriptions.csv",
        """
account_id,product,start_date,end_date,mrr
A,pro,2024-01-01,2024-02-01,100
B,pro,2024-01-01,,50
""",
    )
    events = write(
        tmp_path,
        "events.csv",
        "account_id,event_type,event_time\nA,login,2024-01-05 10:00\n"
        "B,login,2024-01-06 10:00\n",
    )
    first = load_files(store, EVENTS, [events, subs, accounts], now=NOW)
    progress: list[tuple[str, int, int]] = []
    second = load_files(
        store,
        EVENTS,
        [events, subs, accounts],
        now=NOW,
        on_progress=lambda f, done, total: progress.append((Path(f).name, done, total)),
    )

    assert [(r.entity, counts(r)) for r in first] == [
        ("accounts", (2, 2, 0, 0)),
        ("subscriptions", (2, 2, 0, 0)),
        ("events", (2, 2, 0, 0)),
    ]
    assert [counts(r) for r in second] == [(2, 0, 0, 2)] * 3
    assert progress == [
        ("accounts.csv", 1, 3),
        ("subscriptions.csv", 2, 3),
        ("events.csv", 3, 3),
    ]
    assert rows(
        store,
        "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM subscriptions), "
        "(SELECT count(*) FROM events), (SELECT count(*) FROM loads)",
    ) == [(2, 2, 2, 6)]


def test_load__timestamps_become_naive_utc_across_offsets_and_dst(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A")
    settings = Settings(
        events=EntitySource(
            files=["events*"],
            columns={"type": "event_type", "timestamp": "event_time"},
            timezone="America/New_York",
        )
    )
    path = write(
        tmp_path,
        "events.csv",
        """
account_id,event_type,event_time
A,before_spring_forward,2024-03-10T01:30:00
A,after_spring_forward,2024-03-10T03:30:00
A,after_fall_back,2024-11-03 12:00:00
A,with_offset,2024-07-01T12:00:00+02:00
A,with_z,2024-07-01T12:00:00Z
A,date_only,2024-07-02
""",
    )
    [report] = load_files(store, settings, [path], now=datetime(2025, 1, 1))

    assert counts(report) == (6, 6, 0, 0)
    assert rows(store, "SELECT event_type, ts FROM events ORDER BY ts") == [
        ("before_spring_forward", datetime(2024, 3, 10, 6, 30)),  # EST, UTC-5
        ("after_spring_forward", datetime(2024, 3, 10, 7, 30)),  # EDT, UTC-4
        ("with_offset", datetime(2024, 7, 1, 10, 0)),
        ("with_z", datetime(2024, 7, 1, 12, 0)),
        ("date_only", datetime(2024, 7, 2, 4, 0)),
        ("after_fall_back", datetime(2024, 11, 3, 17, 0)),  # EST again
    ]


def test_load__naive_timestamps_default_to_the_workspace_time_zone(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A")
    settings = EVENTS.model_copy(update={"timezone": "Europe/Berlin"})
    path = write(
        tmp_path,
        "events.csv",
        "account_id,event_type,event_time\nA,x,2024-01-15 09:00\n",
    )
    load_files(store, settings, [path], now=NOW)

    assert rows(store, "SELECT ts FROM events") == [(datetime(2024, 1, 15, 8, 0),)]


def test_load__day_month_dates_are_refused_without_a_date_format(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A")
    text = "account_id,event_type,event_time\nA,x,2024-01-01\nA,x,03/04/2024\n"
    path = write(tmp_path, "events.csv", text)

    with pytest.raises(DataError) as caught:
        load_files(store, EVENTS, [path], now=NOW)
    message = str(caught.value)
    assert str(path) in message
    assert "'timestamp'" in message and "'03/04/2024'" in message
    assert "%d/%m/%Y" in message and "%m/%d/%Y" in message
    assert rows(store, "SELECT count(*) FROM events") == [(0,)]


@pytest.mark.parametrize(
    ("date_format", "expected"),
    [("%d/%m/%Y", datetime(2024, 4, 3)), ("%m/%d/%Y", datetime(2024, 3, 4))],
)
def test_load__day_month_dates_are_read_with_the_date_format_given(
    store: Store, tmp_path: Path, date_format: str, expected: datetime
) -> None:
    load_accounts(store, tmp_path, "A")
    settings = Settings(
        events=EntitySource(
            files=["events*"],
            columns={"type": "event_type", "timestamp": "event_time"},
            date_format=date_format,
        )
    )
    text = "account_id,event_type,event_time\nA,x,03/04/2024\nA,x,2024-04-03\n"
    [report] = load_files(
        store, settings, [write(tmp_path, "events.csv", text)], now=NOW
    )

    assert counts(report) == (2, 1, 1, 0)
    assert rows(store, "SELECT ts FROM events") == [(expected,)]
    assert rows(store, "SELECT row, reason FROM quarantine") == [
        (2, f"not a timestamp in the format {date_format}")
    ]


@pytest.mark.parametrize(("tolerance", "accepted"), [("1d", 1), ("2d", 2)])
def test_load__events_beyond_the_future_tolerance_are_rejected(
    store: Store, tmp_path: Path, tolerance: str, accepted: int
) -> None:
    load_accounts(store, tmp_path, "A")
    settings = EVENTS.model_copy(update={"future_tolerance": tolerance})
    text = (
        "account_id,event_type,event_time\n"
        "A,x,2024-06-01T23:59:59\nA,x,2024-06-02T00:00:01\n"
    )
    [report] = load_files(
        store, settings, [write(tmp_path, "events.csv", text)], now=NOW
    )

    assert counts(report) == (2, accepted, 2 - accepted, 0)


def test_load__missing_required_column_names_file_field_columns_and_fix(
    store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "events.csv", "customer,event_type,event_time\nA,x,2024-01-01\n"
    )

    with pytest.raises(DataError) as caught:
        load_files(store, EVENTS, [path], now=NOW)
    assert str(caught.value) == (
        f"{path}: no column for required field 'account_id'; columns found: "
        "customer, event_type, event_time\n"
        "Fix: add `columns: {account_id: your_column}` under `events:` in kenko.yaml"
    )


def test_load__file_of_no_known_entity_asks_for_entity(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, "export.csv", "account_id\nA\n")

    with pytest.raises(DataError, match="pass --entity"):
        load_files(store, Settings(), [path], now=NOW)
    [report] = load_files(store, Settings(), [path], entity="accounts", now=NOW)
    assert counts(report) == (1, 1, 0, 0)


CASE11 = """
item_id,account_id,price,quantity,billing_term,discount_per_invoice
i1,A,20,5,monthly,0
i2,A,1200,1,annual,0
i3,B,4800,1,2-year,0
i4,B,5000,1,one-time,0
i5,C,49,1,monthly,50
i6,C,300,1,quarterly,30
i7,D,99,1,1-Year-ish,0
"""


def test_load__case11_mrr_is_normalised_by_billing_term(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A", "B", "C", "D")
    settings = Settings(
        subscriptions=EntitySource(
            files=["line_items*"],
            columns={"subscription_id": "item_id", "discount": "discount_per_invoice"},
            constants={"product": "plan", "start_date": "2024-01-01"},
        )
    )
    path = write(tmp_path, "line_items.csv", CASE11)
    [report] = load_files(store, settings, [path], now=NOW)

    assert counts(report) == (7, 6, 1, 0)
    assert rows(store, "SELECT subscription_id, mrr FROM subscriptions ORDER BY 1") == [
        ("i1", 100.0),
        ("i2", 100.0),
        ("i3", 200.0),
        ("i4", 0.0),
        ("i5", 0.0),
        ("i6", 90.0),
    ]
    assert rows(
        store, "SELECT account_id, sum(mrr) FROM subscriptions GROUP BY 1 ORDER BY 1"
    ) == [("A", 200.0), ("B", 200.0), ("C", 90.0)]
    assert rows(store, "SELECT row, field, value, reason FROM quarantine") == [
        (
            7,
            "billing_term",
            "1-Year-ish",
            "unknown billing term '1-Year-ish' (write monthly, quarterly, semiannual, "
            "annual, 2-year, 18-months, a number of months or one-time)",
        )
    ]


def test_load__subscription_with_a_later_end_date_replaces_the_open_one(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A")
    head = "account_id,product,start_date,end_date,mrr\n"
    first = write(tmp_path, "subscriptions.csv", head + "A,pro,2024-01-01,,100\n")
    load_files(store, Settings(), [first], now=NOW)
    later = write(
        tmp_path, "subscriptions.csv", head + "A,pro,2024-01-01,2024-05-01,100\n"
    )
    [report] = load_files(store, Settings(), [later], now=NOW)

    assert counts(report) == (1, 1, 0, 0)
    assert report.notes == ["1 line item(s) changed and were replaced"]
    assert rows(store, "SELECT product, start_date, end_date FROM subscriptions") == [
        ("pro", date(2024, 1, 1), date(2024, 5, 1))
    ]


def test_load__bad_subscription_rows_are_rejected_with_reasons(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A")
    path = write(
        tmp_path,
        "subscriptions.csv",
        """
account_id,product,start_date,end_date,price,billing_term
A,pro,2024-01-01,2024-01-01,10,monthly
A,pro,2024-02-01,,-5,monthly
A,pro,soon,,10,monthly
A,pro,2024-03-01,,10,
A,,2024-04-01,,10,monthly
Z,pro,2024-05-01,,10,monthly
A,pro,2024-06-01,,10,monthly
A,pro,2024-06-01,,12,monthly
""",
    )
    [report] = load_files(store, Settings(), [path], now=NOW)

    assert counts(report) == (8, 1, 7, 0)
    assert rows(
        store, "SELECT row, field, value, reason FROM quarantine ORDER BY row"
    ) == [
        (
            1,
            "end_date",
            "2024-01-01",
            "end date is not after the start date 2024-01-01",
        ),
        (2, "price", "-5", "must not be negative"),
        (3, "start_date", "soon", "not a date"),
        (4, "billing_term", None, "missing billing term"),
        (5, "product", None, "missing product"),
        (6, "account_id", "Z", "unknown account 'Z'"),
        (8, "product", "pro", "the same key is on row 7 with other values"),
    ]


def test_load__case10_invalid_nps_answers_are_rejected_and_csat_kept(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, *[f"a{i}" for i in range(1, 11)])
    settings = Settings(
        events=EntitySource(
            files=["survey*"],
            columns={
                "type": "question_type",
                "value": "score",
                "user_id": "response_id",
            },
            constants={"timestamp": "2024-03-01"},
        )
    )
    path = write(
        tmp_path,
        "survey_responses.csv",
        """
response_id,account_id,question_type,score
r1,a1,nps,10
r2,a1,nps,9
r3,a2,nps,9
r4,a3,nps,8
r5,a4,nps,7
r6,a5,nps,6
r7,a6,nps,0
r8,a7,nps,6.5
r9,a8,nps,
r10,a9,nps,11
r11,a10,csat,9
""",
    )
    [report] = load_files(store, settings, [path], now=NOW)

    assert counts(report) == (11, 8, 3, 0)
    assert rows(
        store, "SELECT row, field, value, reason FROM quarantine ORDER BY row"
    ) == [
        (8, "value", "6.5", "nps value must be a whole number"),
        (9, "value", None, "nps events need a value"),
        (10, "value", "11", "nps value must be between 0 and 10"),
    ]
    assert rows(
        store, "SELECT user_id, event_type, value FROM events ORDER BY user_id"
    ) == [
        ("r1", "nps", 10.0),
        ("r11", "csat", 9.0),
        ("r2", "nps", 9.0),
        ("r3", "nps", 9.0),
        ("r4", "nps", 8.0),
        ("r5", "nps", 7.0),
        ("r6", "nps", 6.0),
        ("r7", "nps", 0.0),
    ]


def test_load__value_rules_are_configurable_per_event_type(
    store: Store, tmp_path: Path
) -> None:
    load_accounts(store, tmp_path, "A")
    settings = EVENTS.model_copy(
        update={
            "events": EVENTS.events.model_copy(
                update={"value_rules": {"csat": ValueRule(min=1, max=5)}}
            )
        }
    )
    text = (
        "account_id,event_type,event_time,value\n"
        "A,csat,2024-01-01,6\nA,nps,2024-01-01,\n"
    )
    [report] = load_files(
        store, settings, [write(tmp_path, "events.csv", text)], now=NOW
    )

    assert counts(report) == (2, 1, 1, 0)
    assert rows(store, "SELECT reason FROM quarantine") == [
        ("csat value must be between 1 and 5",)
    ]


def test_load__account_reload_replaces_changed_and_counts_identical_as_duplicates(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings(
        accounts=EntitySource(files=["accounts*"], static_attributes=["channel"])
    )
    head = "account_id,name,seats,timezone,channel,tier\n"
    first = write(
        tmp_path, "accounts.csv", head + "A,Alpha,10,UTC,web,gold\nB,Beta,,,app,\n"
    )
    load_files(store, settings, [first], now=NOW)
    again = write(
        tmp_path,
        "accounts.csv",
        head + "A,Alpha,10,UTC,web,gold\nB,Beta,,,app,silver\nC,Gamma,-1,,web,\n"
        "D,Delta,,Mars/Base,web,\n",
    )
    [report] = load_files(store, settings, [again], now=datetime(2024, 7, 1))

    assert counts(report) == (4, 1, 2, 1)
    assert report.notes == ["1 account(s) changed and were replaced"]
    assert rows(
        store,
        "SELECT account_id, name, seats, timezone, known_on FROM accounts ORDER BY 1",
    ) == [
        ("A", "Alpha", 10.0, "UTC", date(2024, 6, 1)),
        ("B", "Beta", None, None, date(2024, 7, 1)),
    ]
    assert rows(
        store,
        "SELECT account_id, name, value, static FROM account_attributes ORDER BY 1, 2",
    ) == [
        ("A", "channel", "web", True),
        ("A", "tier", "gold", False),
        ("B", "channel", "app", True),
        ("B", "tier", "silver", False),
    ]
    assert rows(
        store, "SELECT row, field, value, reason FROM quarantine ORDER BY row"
    ) == [
        (3, "seats", "-1", "must not be negative"),
        (4, "timezone", "Mars/Base", "unknown time zone 'Mars/Base'"),
    ]


def test_load__gzipped_csv_is_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv.gz"
    path.write_bytes(gzip.compress(b"account_id,name\nA,Alpha\nB,Beta\n"))
    [report] = load_files(store, Settings(), [path], now=NOW)

    assert counts(report) == (2, 2, 0, 0)
    assert rows(store, "SELECT account_id, name FROM accounts ORDER BY 1") == [
        ("A", "Alpha"),
        ("B", "Beta"),
    ]


def test_load__parquet_keeps_native_types(store: Store, tmp_path: Path) -> None:
    load_accounts(store, tmp_path, "1", "2")
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "account_id": pa.array([1, 2, 3], pa.int32()),
                "event_type": ["login", "win", "login"],
                "event_time": pa.array(
                    [
                        datetime(2024, 1, 1, 8),
                        datetime(2024, 1, 2, 9),
                        datetime(2024, 1, 3),
                    ],
                    pa.timestamp("us"),
                ),
                "value": pa.array([None, 1500.5, None], pa.float64()),
            }
        ),
        path,
    )
    [report] = load_files(store, EVENTS, [path], now=NOW)

    assert counts(report) == (3, 2, 1, 0)
    assert rows(
        store, "SELECT account_id, event_type, ts, value FROM events ORDER BY ts"
    ) == [
        ("1", "login", datetime(2024, 1, 1, 8), None),
        ("2", "win", datetime(2024, 1, 2, 9), 1500.5),
    ]
    assert rows(store, "SELECT row, value, reason FROM quarantine") == [
        (3, "3", "unknown account '3'")
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("events.parquet", b"account_id\nA\n", "cannot read the file as Parquet"),
        ("events.csv.gz", b"not gzip at all", "damaged or truncated"),
        (
            "events.csv",
            b"\xff\xfe\x00bad,\x00\nA\xff,\x9c\n",
            "not UTF-8 text: byte 0xff on line 1",
        ),
        ("events.csv", b"", "the file is empty"),
        ("events.xlsx", b"PK\x03\x04", "not a CSV or Parquet file"),
    ],
)
def test_load__unreadable_file_raises_data_error(
    store: Store, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(DataError, match=message) as caught:
        load_files(store, EVENTS, [path], entity="events", now=NOW)
    assert str(path) in str(caught.value)
    assert rows(store, "SELECT count(*) FROM loads") == [(0,)]


def test_load__csv_rows_with_the_wrong_column_count_are_quarantined(
    store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "accounts.csv",
        """
account_id,name
A,Acme
B,Beta,extra
C
D,Delta
""",
    )
    [report] = load_files(store, Settings(), [path], now=NOW)

    assert counts(report) == (4, 2, 2, 0)
    assert rows(
        store, "SELECT row, field, value, reason FROM quarantine ORDER BY row"
    ) == [
        (2, "(row)", "B,Beta,extra", "expected 2 columns, found 3"),
        (3, "(row)", "C", "expected 2 columns, found 1"),
    ]
    assert rows(store, "SELECT account_id FROM accounts ORDER BY 1") == [("A",), ("D",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"account_id,name\nA,Caf\xe9\n", "not UTF-8 text: byte 0xe9 on line 2"),
        (b"\x81\xff\x00\x10binary" * 50, "not UTF-8 text: byte 0x81 on line 1"),
    ],
)
def test_load__text_that_is_not_utf8_is_refused_with_its_line(
    store: Store, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        load_files(store, Settings(), [path], now=NOW)
    assert "save the file as UTF-8" in str(info.value)
    assert rows(store, "SELECT count(*) FROM loads") == [(0,)]


def test_load__truncated_gzip_says_the_file_is_damaged(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.csv.gz"
    path.write_bytes(gzip.compress(b"account_id\nA\nB\n")[:20])
    with pytest.raises(DataError, match="damaged or truncated"):
        load_files(store, Settings(), [path], now=NOW)


def test_load__reloading_accounts_keeps_fields_the_file_does_not_carry(
    store: Store, tmp_path: Path
) -> None:
    first = write(
        tmp_path, "accounts.csv", "account_id,timezone,tier\nT1,Asia/Tokyo,gold\n"
    )
    load_files(store, Settings(), [first], now=NOW)
    second = write(tmp_path, "accounts_2.csv", "account_id,name\nT1,Tokyo Ltd\n")
    [report] = load_files(store, Settings(), [second], now=NOW)

    assert counts(report) == (1, 1, 0, 0)
    assert rows(store, "SELECT account_id, name, timezone FROM accounts") == [
        ("T1", "Tokyo Ltd", "Asia/Tokyo")
    ]
    assert rows(store, "SELECT name, value FROM account_attributes") == [
        ("tier", "gold")
    ]

    # The same file again is a duplicate: nothing it lacks makes it look changed.
    [again] = load_files(store, Settings(), [second], now=NOW)
    assert counts(again) == (1, 0, 0, 1)


def test_load__semicolon_csv_gets_a_delimiter_hint_and_loads_with_it(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, "accounts.csv", "account_id;name\nA;Acme\nB;Beta\n")
    with pytest.raises(DataError) as info:
        load_files(store, Settings(), [path], now=NOW)
    assert "looks separated by ';'" in str(info.value)
    assert 'delimiter: ";"' in str(info.value)

    settings = Settings(accounts=EntitySource(files=["accounts*"], delimiter=";"))
    [report] = load_files(store, settings, [path], now=NOW)
    assert counts(report) == (2, 2, 0, 0)
    assert rows(store, "SELECT account_id, name FROM accounts ORDER BY 1") == [
        ("A", "Acme"),
        ("B", "Beta"),
    ]

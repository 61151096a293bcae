"""The ingest's cheaper JSON text, timestamps and SQLite datetime binds (issue 20) give what
`json.dumps`, `datetime.now(UTC).replace(tzinfo=None)` and SQLAlchemy's own DATETIME bind
processor gave: compared on edge cases and random values."""

from __future__ import annotations

import json
import random
import string
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import Date, DateTime, Integer
from sqlalchemy.dialects import postgresql, sqlite

from maildesk.outbound.deferred import Spec
from maildesk.store.jsontext import json_encoder
from maildesk.store.lean import bind_processor
from maildesk.store.models import dumps, utcnow

_TEXTS = ["", "plain", "é ü ß 日本語 🙂", "\x00\x01\x1f\x7f", "a\r\nb\nc\rd", '"\\/',
          "\u2028\u2029", "\ud800", "x" * 100_000]
_VALUES: list[object] = [
    None, True, False, 0, -1, 10**40, 1.5, -0.0, 1e300, float("nan"), float("inf"),
    float("-inf"), [], {}, (), [1, (2, 3), [4, [5, {}]]], {"a": 1, "b": [None]},
    {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
    {"nested": {"deep": [{"x": t} for t in _TEXTS]}}, *_TEXTS,
]


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.randrange(-10**6, 10**6)
    if kind == 1:
        return rng.random() * 10 ** rng.randrange(-5, 5)
    if kind == 2:
        chars = string.printable + "éü🙂\u2028"
        return "".join(rng.choice(chars) for _ in range(rng.randrange(20)))
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return ""
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 6:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {f"k{rng.randrange(100)}": _random_value(rng, depth + 1)
            for _ in range(rng.randrange(5))}


@pytest.mark.parametrize("ensure_ascii", [False, True])
@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_json_encoder_is_json_dumps(ensure_ascii: bool, separators: tuple[str, str]) -> None:
    encode = json_encoder(ensure_ascii=ensure_ascii, separators=separators)
    rng = random.Random(20)
    for value in _VALUES + [_random_value(rng) for _ in range(500)]:
        assert encode(value) == json.dumps(value, ensure_ascii=ensure_ascii,
                                           separators=separators)


def test_dumps_is_the_columns_json() -> None:
    for value in _VALUES:
        assert dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_json_encoder_errors_are_json_dumps_errors() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    looped: dict[str, object] = {}
    looped["me"] = [looped]
    for bad in [cycle, looped, {"when": datetime(2026, 1, 1)}, {("tuple", "key"): 1},
                [1, {2, 3}]]:
        with pytest.raises((ValueError, TypeError)) as theirs:
            json.dumps(bad, ensure_ascii=False, separators=(",", ":"))
        with pytest.raises(theirs.type, match=str(theirs.value)):
            dumps(bad)
    assert dumps([1, 2]) == "[1,2]"  # nothing left over from the failures


def test_json_encoder_shared_by_threads() -> None:
    rng = random.Random(7)
    values = [_random_value(rng) for _ in range(200)]
    expected = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in values]
    wrong: list[int] = []

    def work() -> None:
        for _ in range(20):
            wrong.extend(i for i, v in enumerate(values) if dumps(v) != expected[i])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_spec_dumps_is_asdicts_json() -> None:
    spec = Spec(template="customer/autoresponse_new.txt", language="de",
                context={"ticket": {"number": "2026120210000001", "title": "Grüße 🙂",
                                    "tags": [], "locked": False, "priority": 3}},
                from_name="Support", from_addr="support@example.com",
                to=[("Jörg", "jorg@example.org"), ("", "x@example.org")],
                subject="[Ticket#1] Grüße", extra={"X-Loop": "example.com"},
                references=["a@b", "c@d"], quote=7)
    from dataclasses import asdict
    assert spec.dumps() == json.dumps(asdict(spec), separators=(",", ":"))
    assert Spec.loads(spec.dumps()) == spec


def _utcnow_before() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_utcnow_is_naive_utc_now() -> None:
    for when in [datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC),
                 datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                 datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=2))),
                 datetime(2030, 1, 1, tzinfo=UTC)]:
        with time_machine.travel(when, tick=False):
            now = utcnow()
            assert now == _utcnow_before()
            assert now.tzinfo is None and type(now) is datetime
            assert now == when.astimezone(UTC).replace(tzinfo=None)
    before = _utcnow_before()
    now = utcnow()
    assert now.tzinfo is None and before <= now <= _utcnow_before()


def test_sqlite_datetime_bind_is_sqlalchemys() -> None:
    dialect = sqlite.dialect()
    theirs = DateTime()._cached_bind_processor(dialect)
    ours = bind_processor(DateTime(), dialect, theirs)
    assert ours is not theirs
    rng = random.Random(3)
    values: list[object] = [
        None, datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 12, 2, 3, 4, 5), datetime(2026, 12, 2, 3, 4, 5, 7),
        datetime(9999, 12, 31, 23, 59, 59, 999999, fold=1),
        datetime(2026, 1, 1, 12, tzinfo=UTC),
        datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5))), date(2020, 2, 29),
    ]
    values += [datetime(1, 1, 1) + timedelta(microseconds=rng.randrange(1 << 58))
               for _ in range(2000)]

    class Later(datetime):
        def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
            return "not the stored form"

    values.append(Later(2026, 5, 6, 7, 8, 9, 10))
    for value in values:
        assert ours(value) == theirs(value), value
    with pytest.raises(TypeError):
        ours("2026-01-01")


def test_bind_processor_leaves_others_alone() -> None:
    dialect = sqlite.dialect()
    date_processor = Date()._cached_bind_processor(dialect)
    assert bind_processor(Date(), dialect, date_processor) is date_processor
    assert bind_processor(Integer(), dialect, None) is None
    custom = sqlite.DATETIME(storage_format="%(year)04d/%(month)02d/%(day)02d")
    processor = custom._cached_bind_processor(dialect)
    assert bind_processor(custom, dialect, processor) is processor
    pg = postgresql.dialect()
    assert bind_processor(DateTime(), pg, DateTime()._cached_bind_processor(pg)) is \
        DateTime()._cached_bind_processor(pg)

"""The sender's cheaper checks (issue 20) give what the full ones give: `check_sender`
returns what `check_address` returns and refuses what it refuses, in its words, for the
VERP senders the lanes make and for any other text; the Date header made once a second is
`format_datetime`'s; `_address` cached is `_address`."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.render import (
    InvalidAddress,
    _address,
    _date,
    check_address,
    check_sender,
)
from maildesk.outbound.verp import envelope_base, signed_verp


def _outcome(check: object, address: str) -> tuple[str, str]:
    try:
        return "ok", check(address)  # type: ignore[operator]
    except InvalidAddress as exc:
        return "refused", str(exc)


BASES = [
    "bounces@example.com", "Bounces@Example.COM", "b.o.u@ex-ample.org", "b@x.y",
    "bounces@xn--bcher-kva.example", "bounces@bücher.example", "bouncés@example.com",
    "a..b@example.com", ".a@example.com", "a.@example.com", "@example.com", "bounces@",
    "bounces@example.com.", "bounces@-x.com", "bounces@x_y.com", '"a b"@example.com',
    "b\n@example.com", "b@ex\nample.com", " b@example.com", "b@example.com ", "b@@x.com",
    "b<x>@example.com", "b,c@example.com", "b@[127.0.0.1]", "x" * 240 + "@example.com",
    "b+old@example.com", "b++@example.com", "+@example.com", "b@example.com\u2028",
    "b!#$%&'*/=?^_`{|}~@example.com", "b(c)@example.com", "b@exa mple.com",
]
TAGS = ["1", "12345-abcdefgh", "7-zzzzzzzz", "", "-", "1-ABCDEFGH", "1_2", "1 2", "1\n",
        "ü", "1-a.b", "x" * 30, "1@2"]


@pytest.mark.parametrize("base", BASES)
def test_check_sender_is_check_address_for_every_verp_shape(base: str) -> None:
    for tag in TAGS:
        local, at, domain = base.rpartition("@")
        for address in (f"{local}+{tag}{at}{domain}", f"{base}+{tag}", base):
            assert _outcome(check_sender, address) == _outcome(check_address, address), \
                address


def test_check_sender_for_the_senders_the_lanes_make() -> None:
    secret = b"s" * 32
    for base in BASES:
        for outbox_id in (1, 42, 10**9, random.randrange(1, 10**12)):
            for made in (signed_verp(envelope_base(base, outbox_id), secret, outbox_id),
                         f"{base.partition('@')[0]}+{outbox_id}@{base.partition('@')[2]}"):
                assert _outcome(check_sender, made) == _outcome(check_address, made), made


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab.+-_@xX1 \"<>\u00e9\n", max_size=24),
       st.text(alphabet="az09-+.@_A", max_size=12))
def test_check_sender_is_check_address_for_random_text(local: str, tag: str) -> None:
    for address in (f"{local}+{tag}@example.com", f"{local}@ex.com+{tag}", local + tag):
        assert _outcome(check_sender, address) == _outcome(check_address, address), address


def test_date_header_once_a_second_is_format_datetimes() -> None:
    for second in (0, 1_700_000_000, 1_800_000_123, int(datetime.now(UTC).timestamp())):
        moment = datetime.fromtimestamp(second + 0.75, UTC)
        assert _date(second) == format_datetime(moment, usegmt=True)


def test_cached_address_header_refuses_every_time() -> None:
    _address.cache_clear()
    for _ in range(2):
        with pytest.raises(InvalidAddress):
            _address("Name", "not an address")
    assert _address("Zoë «S»", "zoe@Example.com") == _address.__wrapped__(
        "Zoë «S»", "zoe@Example.com")


SPANISH = """\
  - address: ines@example.com
    name: Inés Ejemplo
    groups: [support]
    language: es
"""


def test_a_pass_renders_the_bytes_each_row_renders_alone(tmp_path: Any, sink: Any,
                                                          monkeypatch: Any) -> None:
    """A sender pass (templates looked up once, texts shared, addresses and the Date
    cached) writes for every row the bytes that row rendered alone writes with none of
    that: auto-responses and notifications, new and follow-up, in English, German and
    Spanish, non-ASCII names and subjects, long lines."""
    import re
    from datetime import timedelta

    from maildesk.outbound import deferred, render
    from maildesk.outbound.batches import render_ready
    from maildesk.outbound.outbox import claim_due
    from tests.conftest import simple_mail
    from tests.outbound.conftest import outbound_desk
    from tests.outbound.test_cheaper import AGENTS, _more_agents

    desk = _more_agents(outbound_desk(tmp_path / "d", sink.port), "")
    text = desk.config_path.read_text()
    desk.config_path.write_text(text.replace(AGENTS, AGENTS + SPANISH, 1))
    long_line = "Wörter " * 60 + "\n"
    subjects = ["Printer on fire", "Drucker brennt – schon wieder: ÄÖÜß", "¿Impresora? ñ " * 9]
    for n, subject in enumerate(subjects):
        body = f"Hallo,\n{long_line}Grüße\n" + "=3D .\n.\n" * n
        desk.ingest(simple_mail(subject=subject, sender=f"zoë{n}@example.org".replace("ë", "e"),
                                body=body))
    app = desk.app()
    try:
        rows = claim_due(app.db, "t", 100, timedelta(0))
        first = rows[0]
        number = re.search(rb"\[Ticket#(\d+)\]", first.raw or b"")
        desk.ingest(simple_mail(subject="Re: Printer on fire" + (
            f" [Ticket#{number.group(1).decode()}]" if number else ""), body="Noch da?\n"))
        rows = claim_due(app.db, "t", 100, timedelta(0))
        assert len({r.kind for r in rows}) >= 2 and len(rows) >= 12
        built, broken = render_ready(app, rows)
        assert not broken
        monkeypatch.setattr(render, "_address", render._address.__wrapped__)
        monkeypatch.setattr(render, "_date", lambda _second: format_datetime(
            datetime.now(UTC), usegmt=True))
        with app.db.reading() as session:
            for row in built:
                alone = deferred.message_bytes(session, app.config, b"", row.spec,
                                               row.message_id)
                assert _dateless(row.raw) == _dateless(alone), row.kind
        langs = {deferred.Spec.loads(r.spec or "").language for r in rows}
        assert {"de", "es"} <= langs
    finally:
        app.close()


def _dateless(raw: bytes) -> bytes:
    import re

    return re.sub(rb"\r\nDate: [^\r]*", b"", raw)


def _address_before(name: str, address: str) -> str:
    """render._address as it was before it checked with check_sender (issue 20)."""
    from email.utils import formataddr

    from maildesk.outbound.render import clean_header

    addr = check_address(address)
    if addr.isascii():
        return formataddr((clean_header(name, 200), addr), charset="utf-8")
    shown = formataddr((clean_header(name, 200), "x@x"), charset="utf-8")
    text = addr if shown == "x@x" else shown[:-4] + addr + ">"
    return text.encode("utf-8").decode("ascii", "surrogateescape")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab.+-_@xX1 \"<>\u00e9\n", max_size=24),
       st.text(alphabet="az09-+.@_A", max_size=12))
def test_address_header_is_what_it_was(local: str, tag: str) -> None:
    for address in (f"{local}+{tag}@example.com", f"support+t{tag}@Example.com", local + tag):
        for name in ("", "Zoë «S»"):
            assert (_outcome(lambda a, n=name: _address.__wrapped__(n, a), address)
                    == _outcome(lambda a, n=name: _address_before(n, a), address)), address

"""The sender's lean serializer (outbound/wire.py) and build_message's cached body encoding
write byte for byte what the email package writes: for mails made of every real mail in
the corpus (names, subjects, threads and bodies as customers send them), for the shapes
maildesk makes (UTF-8 names and addresses, long subjects and threads, 64 KiB quotes) and
for random header values."""

from __future__ import annotations

import random
from email import message_from_bytes
from email.message import Message
from email.mime.multipart import MIMEMultipart

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.deferred import quote
from maildesk.outbound.render import _BODY_CHARSET, WIRE, _set_text, build_message
from maildesk.outbound.wire import fold, wire_bytes
from tests.conftest import CORPUS, needs_corpus


def _generator(message: Message) -> bytes:
    return message.as_bytes(policy=WIRE)


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:  # a charset Python does not know (the corpus has some)
        return payload.decode("latin-1")


def _body_part(message: Message) -> Message:
    return next((p for p in message.walk() if p.get_content_maintype() == "text"), message)


def _built(name: str, subject: str, body: str, parent: str | None,
           references: list[str], to: str = "carol@example.org") -> Message:
    return build_message(
        from_name=f"{name} via Example Support", from_addr="support@example.com",
        to=[(name, to)], reply_to="support+tok3n@example.com", subject=subject,
        body=body, message_id="tok3n.md-0123456789abcdef@example.com",
        in_reply_to=parent, references=references,
        extra={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
               "X-Loop": "support@example.com"})


@needs_corpus
def test_every_corpus_mail_made_into_a_notification_is_written_byte_for_byte() -> None:
    files = sorted(CORPUS.rglob("*.eml"))
    assert len(files) > 100
    for path in files:
        mail = message_from_bytes(path.read_bytes())
        name = str(mail.get("From", "") or "").split("<")[0].strip(' "')
        subject = str(mail.get("Subject", "") or "")
        parent = str(mail.get("Message-ID", "") or "") or None
        references = str(mail.get("References", "") or "").split()
        body = quote(_text(_body_part(mail)))
        for message in (_built(name, subject, body, parent, references),
                        _built(name, "Re: " + subject, body + "\n" + body, None, [])):
            assert wire_bytes(message) == _generator(message), path


@pytest.mark.parametrize("body", [
    "",
    "one line without its end",
    "Grüße aus Köln, ça va? 日本語のテキスト\n" * 40,
    "x" * 300 + "\n" + "=" * 200 + "\n" + "a=\n",
    "trailing space \ntrailing tab\t\n \n\t\n",
    "From the start\n.a dot\n..two\nFrom me\n",
    "crlf\r\nbare cr\rbare lf\nend",
    "\x0b\x0c\x1c\x85\u2028 breaks that are not CRLF\n",
    "a" * 75 + " \n" + "b" * 74 + " \n" + "c" * 73 + "\t\n",
    "y" * 74 + "=" + "z" * 10 + "\n" + "w" * 73 + "==" + "\n",
])
def test_the_cached_body_encoding_is_set_payload(body: str) -> None:
    text = body if body.endswith("\n") else body + "\n"
    ours, theirs = Message(), Message()
    for message in (ours, theirs):
        message["MIME-Version"] = "1.0"
    _set_text(ours, text)
    theirs.set_payload(text, _BODY_CHARSET)
    assert ours.items() == theirs.items()
    assert ours.get_payload() == theirs.get_payload()
    assert str(ours.get_charset()) == str(theirs.get_charset())
    assert wire_bytes(ours) == _generator(theirs) == _generator(ours)


def test_maildesk_shapes_are_written_byte_for_byte() -> None:
    rng = random.Random(20)
    words = ["Drucker", "brennt", "ça", "marche", "pas", "日本", "printer", "on", "fire",
             "=?utf-8?q?x?=", "a,b", '"quoted"', "(comment)", "semi;colon", "x" * 90]
    for n in range(300):
        name = " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        subject = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        references = [f"m{n}.{i}@thread.example" for i in range(rng.randint(0, 30))]
        body = quote("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
                               for _ in range(rng.randint(0, 60))))
        to = "jürgen@example.org" if n % 7 == 0 else "carol@example.org"
        message = _built(name, subject, body, f"p{n}@customer.example", references, to)
        assert wire_bytes(message) == _generator(message), (name, subject)
    big = _built("Carol", "big", quote("Zeile mit Umlauten äöü und = Zeichen\n" * 3000),
                 None, [])
    assert wire_bytes(big) == _generator(big)


def test_a_multipart_goes_through_the_generator() -> None:
    message = _built("Carol", "parts", "text", None, [])
    outer = MIMEMultipart(boundary="b0undary")
    outer["Subject"] = "x"
    outer.attach(message)
    outer.attach(_built("Dan", "second", "more", None, []))
    assert wire_bytes(outer) == _generator(outer)


_HEADER_TEXT = st.lists(
    st.sampled_from([*" \t\"(),.:;<>=?@[]\\_-'aZ09é\u2028", "  ", "=?", "word", "x" * 30]),
    max_size=60).map("".join)


@settings(max_examples=3000, deadline=None)
@given(name=st.sampled_from(["From", "To", "Subject", "References", "X-Auto-Response-Suppress"]),
       value=_HEADER_TEXT)
def test_fold_is_compat32s_fold(name: str, value: str) -> None:
    assert fold(name, value) == WIRE.fold_binary(name, value)


def _fields(name: str, subject: str, body: str, parent: str | None, references: list[str],
            to: str = "carol@example.org", **more: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        from_name=f"{name} via Example Support", from_addr="support@example.com",
        to=[(name, to)], reply_to="support+tok3n@example.com", subject=subject,
        body=body, message_id="tok3n.md-0123456789abcdef@example.com",
        in_reply_to=parent, references=references,
        extra={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
               "X-Loop": "support@example.com"})
    fields.update(more)
    return fields


def test_built_bytes_are_the_built_messages_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender writes a mail without its `Message` (wire.built_bytes): the bytes of
    `wire_bytes(build_message(...))`, and so the email package's, for the shapes maildesk
    makes, random ones, and the ones that still take the `Message` path."""
    from types import SimpleNamespace

    from maildesk.outbound import render
    from maildesk.outbound.wire import built_bytes

    monkeypatch.setattr(render, "time", SimpleNamespace(time=lambda: 1764633600.5))  # one Date
    rng = random.Random(21)
    words = ["Drucker", "brennt", "ça", "marche", "pas", "日本", "printer", "on", "fire",
             "=?utf-8?q?x?=", "a,b", '"quoted"', "(comment)", "semi;colon", "x" * 90,
             "\u202egpj.exe", "line\nbreak", "\r\n"]
    cases = []
    for n in range(300):
        name = " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        subject = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        references = [f"m{n}.{i}@thread.example" for i in range(rng.randint(0, 30))]
        body = quote("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
                               for _ in range(rng.randint(0, 60))))
        to = "jürgen@example.org" if n % 7 == 0 else "carol@example.org"
        more: dict[str, object] = {}
        if n % 5 == 0:
            more["cc"] = [("Dan", "dan@example.org"), (name, "erik@example.org")]
        if n % 11 == 0:
            more["reply_to"] = None
        cases.append(_fields(name, subject, body, f"p{n}@customer.example" if n % 3 else None,
                             references, to, **more))
    cases.append(_fields("Carol", "mime", "text\n", None, [],
                         extra={"Content-Type": "text/plain; charset=us-ascii"}))
    cases.append(_fields("Carol", "cte", "text", None, [],
                         extra={"content-transfer-encoding": "8bit", "X-A": "b"}))
    cases.append(_fields("Carol", "big", "Zeile mit Umlauten äöü und = Zeichen\n" * 3000,
                         None, []))
    for fields in cases:
        message = build_message(**fields)  # type: ignore[arg-type]
        assert built_bytes(**fields) == wire_bytes(message) == _generator(message), fields
    with pytest.raises(ValueError, match="bad Message-ID"):
        built_bytes(**_fields("Carol", "x", "y", None, [], message_id="<no good>"))


def test_folded_headers_are_cached_as_folded() -> None:
    """`_joined` folds a str header once (issue 20): a cached fold is the fold, and a
    `Header` is never cached."""
    from email.header import Header

    from maildesk.outbound.wire import _folded

    for value in ("auto-generated", "x " * 60, "Jürgen <j@example.org>"):
        assert _folded("X-Test", value) == _folded("X-Test", value) == fold("X-Test", value)
    header = Header("Grüße", "utf-8")
    assert fold("Subject", header) == WIRE.fold_binary("Subject", header)


@pytest.mark.parametrize("reply_to", [
    "support+t1aff8d9819aujve64qvr6jxrcvv@example.com", "support@Example.COM",
    "Support+X@EXAMPLE.com", "jürgen+t1@example.org", "a+t1@bücher.example", "plain@x.io",
    "bad address@example.com", "two@@example.com", "support+t1@example.com\r\nBcc: x@y.z"])
def test_reply_to_as_the_address_header_made_it(reply_to: str) -> None:
    """message_parts writes a plain ASCII Reply-To past `_address`'s cache (issue 20): the
    same value, the same refusal."""
    from maildesk.outbound.render import _address, message_parts

    try:
        expected: object = _address.__wrapped__("", reply_to)
    except Exception as exc:
        expected = (type(exc), str(exc))
    fields = _fields("Carol", "Subject", "body\n", None, [])
    try:
        headers, _ = message_parts(**{**fields, "reply_to": reply_to})  # type: ignore[arg-type]
        got: object = dict(headers)["Reply-To"]
    except Exception as exc:
        got = (type(exc), str(exc))
    assert got == expected

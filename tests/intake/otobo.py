"""OTOBO's own parser fixtures (corpus `peers/otobo/sample/`, the mails OTRS's EmailParser
and PostMaster tests read) with the values OTOBO's `scripts/test/EmailParser.t` asserts
(commit 9f0e4d92 lineage; transcribed by hand: facts, no Perl), compared field by field with
parse_message, as `peers.py` does for Zammad.

How OTOBO's values map onto maildesk's:
- `GetParam(WHAT => 'From')` `Name <addr>`: the sender address and the display name;
  `To`/`Cc`: the addresses (maildesk keeps no display names for them).
- `GetAttachments()` lists the body parts too (`[0]` the text body, then an HTML
  alternative); here only the real attachments count: an assertion of `[n]`'s MD5 and
  file name is one attachment maildesk must have with those bytes (CRLF or LF) and name.
- `MD5sum(GetMessageBody())` is OTOBO's body text in UTF-8 (CRLF or LF, a final newline
  or not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from maildesk.intake.message import ParsedMail
from maildesk.intake.parse import parse_message
from tests.intake.peers import Field, _norm

PDF = "5ee767f3b68f24a9213e0bef82dc53e5"
UTF8_TXT = "bb29962e132ba159539f1e88b41663b1"


@dataclass
class Case:
    """What EmailParser.t asserts about one sample mail (test number in `test`)."""

    test: str
    from_addr: str | None = None
    from_name: str | None = None
    to: list[str] | None = None
    cc: list[str] | None = None
    subject: str | None = None
    body_md5: str | None = None
    body_has: list[str] = field(default_factory=list)
    body_lacks: list[str] = field(default_factory=list)
    attachments: list[tuple[str | None, str | None]] = field(default_factory=list)  # md5, name
    no_attachments: bool = False


CASES: dict[str, Case] = {
    "PostMaster-Test1.box": Case(
        "#1", from_addr="skywalker@otobo.org", from_name="Skywalker Attachment",
        to=["darthvader@otobo.org"], no_attachments=True),
    "PostMaster-Test3.box": Case(
        "#3", attachments=[("4e78ae6bffb120669f50bca56965f552",
                            "utf-8-file-äöüß-カスタマ.txt")]),
    "PostMaster-Test4.box": Case(
        "#4", from_addr="me@bogen.net", from_name="Hans BÄKOSchönland",
        to=["hans@example.com"],
        subject='utf8: 使って / ISO-8859-1: Priorität" / cp-1251: Сергей Углицких',
        body_has=["Test1:\u2013", "Test2:&", "Test3:\u220b", "Test4:&", "Test5:=",
                  "Compare Cable, DSL or Satellite"],
        body_lacks=["style", "background", "br", "div", "html"]),
    "PostMaster-Test5.box": Case(
        "#5", attachments=[("d2288c4aa6a50bc41a0e9b8820495922",
                            "test-attachment-äöüß-iso-8859-1.txt"),
                           (UTF8_TXT, "test-attachment-äöüß-utf-8.txt"),
                           (PDF, "test-attachment-äöüß.pdf")]),
    "PostMaster-Test6.box": Case(
        "#6", attachments=[(PDF, "test-attachment-äöüß.pdf"),
                           (UTF8_TXT, "test-attachment-äöüß-utf-8.txt"),
                           ("0596f2939525c6bd50fc2b649e40fbb6",
                            "test-attachment-äöüß-iso-8859-1.txt")]),
    "PostMaster-Test7.box": Case(
        "#7", attachments=[(PDF, "test-attachment-äöüß.pdf"),
                           (UTF8_TXT, "test-attachment-äöüß-utf-8.txt"),
                           ("0596f2939525c6bd50fc2b649e40fbb6",
                            "test-attachment-äöüß-iso-8859-1.txt")]),
    "PostMaster-Test8.box": Case("#8", body_md5=PDF, no_attachments=True),
    "PostMaster-Test9.box": Case("#9", attachments=[(PDF, None)]),
    "PostMaster-Test10.box": Case("#10", body_md5="4e269fc57c9aa7861ad432607e660ae9"),
    "PostMaster-Test11.box": Case("#11", body_md5="52f20c90a1f0d8cf3bd415e278992001",
                                  no_attachments=True),
    "PostMaster-Test12.box": Case(
        "#12", to=["support@example.com"],
        cc=["support2@example.com", "support3@example.com"],
        body_md5="603c11a38065909cc13bf53c650506c1",
        attachments=[("ecfbec2030e6bf91cc97ed22f7c6551a", "attachment-äöüß-utf8.txt"),
                     ("b25beeea18c52cdc791864b52862743e", "attachment-äöüß-iso.txt"),
                     ("f287d0dd6d0f90da4ac69348b09ec281", "Обяснительная.jpg"),
                     ("f287d0dd6d0f90da4ac69348b09ec281", "Сообщение.jpg"),
                     (None, "報告書_..txt"), (None, "金田_美羽"),
                     (None, "國科會50科學之旅活動計畫徵求書_r_final_.doc"),
                     (None, "2차_보도자료.hwp")]),
    "PostMaster-Test13.box": Case("#13", to=["support@example.com"],
                                  body_md5="474f97c23688e88edfb70139d5658e01"),
    "PostMaster-Test14.box": Case("#14", to=["security@example.org"],
                                  from_addr="security@example.org",
                                  body_md5="b8b01a1acd8fe7efeff8351bf48d8f63"),
    "PostMaster-Test21.box": Case(
        "#21", to=["xxzzyy@gmail.com"],
        subject="Евгений Васильев Новоподзалупинский <xxzzyy@gmail.com>"),
    "PostMaster-Test22.box": Case(
        "#22", to=["xxzzyy@gmail.com"],
        subject="QBQB Евгений Васильев Новоподзалупинский <xxzzyy@gmail.com>"),
    "UTF-7.box": Case("#23", to=["wop+autoreply=no@ticket.noris.net"]),
}


def sample(root: Path, name: str, folder: str = "EmailParser") -> Path:
    return root / "peers" / "otobo" / "sample" / folder / name


def _md5s(data: bytes) -> set[str]:
    variants = {data, data.replace(b"\r\n", b"\n")}
    variants |= {v.rstrip(b"\n") for v in variants} | {v + b"\n" for v in variants}
    return {hashlib.md5(v).hexdigest() for v in variants}  # noqa: S324  (the peer's checksum)


def _attachment_fields(name: str, case: Case, mail: ParsedMail) -> list[Field]:
    fields = []
    ours = [(_md5s(a.data), a.filename) for a in mail.attachments]
    for md5, filename in case.attachments:
        label = filename or md5
        if md5 is not None:
            names = [fn for sums, fn in ours if md5 in sums]  # equal bytes: the same name first
            match = filename if filename in names else (names[0] if names else None)
            fields.append(Field(name, f"attachment {label} data", True, match is not None))
            if filename is not None and match is not None:
                fields.append(Field(name, f"attachment {label} name", filename, match))
        else:
            names = [fn for _, fn in ours]
            fields.append(Field(name, f"attachment {label} name", filename,
                                filename if filename in names else names))
    if case.no_attachments:
        fields.append(Field(name, "attachments", [], [a.filename for a in mail.attachments]))
    return fields


def compare(path: Path, case: Case) -> list[Field]:
    """Each asserted field of one OTOBO sample, expected vs parse_message's value."""
    name = path.name
    mail = parse_message(path.read_bytes())
    fields: list[Field] = []
    if case.from_addr is not None:
        fields.append(Field(name, "from_addr", case.from_addr, mail.from_addr))
    if case.from_name is not None:
        fields.append(Field(name, "from_name", case.from_name, _norm(mail.from_name or "")))
    if case.to is not None:
        fields.append(Field(name, "to", case.to, mail.to))
    if case.cc is not None:
        fields.append(Field(name, "cc", case.cc, mail.cc))
    if case.subject is not None:
        fields.append(Field(name, "subject", _norm(case.subject), _norm(mail.subject)))
    if case.body_md5 is not None:
        got = case.body_md5 if case.body_md5 in _md5s(mail.body.encode()) else "other"
        fields.append(Field(name, "body md5", case.body_md5, got))
    for text in case.body_has:
        fields.append(Field(name, f"body has {text!r}", True, text in mail.body))
    for text in case.body_lacks:
        fields.append(Field(name, f"body lacks {text!r}", True, text not in mail.body))
    fields.extend(_attachment_fields(name, case, mail))
    return fields

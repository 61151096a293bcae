"""The sped-up `reply_text` (issue 20) must give exactly the answers it gave before.

`tests/unit/quotes_oracle.py` is the old implementation, frozen; every body below goes
through both, with signatures stripped and kept: the fixture mails (raw and their text
part) and bodies built to hit the edges the
speed-up touched (memoised line classes, `match` for anchored markers, the colon and `[`
pre-checks, the signature flag that replaced a per-line slice). The corpus replies are
compared in tests/agents/test_quotes.py (too slow for this tier).
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from maildesk.agents.quotes import _ends_in_colon, reply_text
from tests.unit.quotes_oracle import reply_text_oracle

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"


def bodies_of(raw: bytes) -> list[str]:
    out = [raw.decode("utf-8", "replace")]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(("plain",))
    if part is not None:
        try:
            out.append(part.get_content())  # type: ignore[attr-defined]
        except (LookupError, ValueError):
            pass
    return out


def _fixture_bodies() -> list[tuple[str, str]]:
    out = []
    for path in sorted(FIXTURES.glob("*.eml")):
        for n, body in enumerate(bodies_of(path.read_bytes())):
            out.append((f"{path.name}#{n}", body))
    assert len(out) > 40, "the fixture mails are missing"
    return out


EDGE = [
    "",
    " \n\t\n",
    "Thanks!\n-- \nBob\n> quoted\n",
    "--\n--\n--\nText\n--\nsig\n",
    "> top quote\n--\nText below\n-- \nsig",
    "Text\n[Sent from my iPhone](https://x)\n> q\n",
    "Sent from my iPhone\nText\n",
    "Hello\nOn Mon, 1 Dec 2026 at 10:00, Some One <\na@b.example> wrote:\n> q\n",
    "Hello\nAm 01.12.2026 um 10:00 schrieb Max\nMustermann <m@x.de>:\n> q\n",
    "Hello\n\nFrom: a\nSent: b\nTo: c\nSubject: d\n\nold\n",
    "From: a\nSent: b\nTo: c\nSubject: d\nwrapped\n\nnew text\n",
    "Hello\nVon： a\nBetreff： b\nAn： c\n",
    "Text\n2016-03-03 17:21 GMT+01:00 Some One\n> q",
    "Text\n23 mar 2017 21:25 \"Neil\" <n@x.pl> napisał(a):\n> q",
    "Text\n2013/7/20 sam via Discourse <info@discourse.org>\n> q",
    "Text\n   Posted by Someone on 01/12/2026\n> q",
    "Text\n```\nOn Mon wrote:\n-- \n```\nmore\n",
    "On Mon, 1 Dec 2026, A wrote:\n> q\n> q\n\nbottom text\n",
    "Text\r\nwith CRLF\r\n\r\n> q\r\n",
    "Text\u00a0nbsp\rold mac\n",
    "a" * 5000 + " wrote:\n> q",
    "x@y.example " * 200 + "wrote:\n> q",
    "Text\nOn Mon, 1 Dec 2026, A wrote:\u2003\n> q",
    "Text\n12 dec 2026, x@y.example wrote :\x1f\x1c\n> q",
    "Text\n2026 Max schrieb am Montag: \x0b\n> q",
    "Text\n2026 Max schrieb am Montag:\x85x\n> q",
    "Text\n2026 Max schrieb am Montag:\u200b\n> q",
    *(f"Text\n{'x' * a}1{' ' * b}wrote:\n> q" for a in (0, 299, 300, 301) for b in (299, 300, 301)),
    "Text\n" + "1 " * 400 + "a " * 200 + "wrote:\n> q",
    "Text\n1wrote:\n> q",
    "Text\nMax <m@x.de> schrieb:\n> q\nTEXT\n-----Original Message-----\nold",
    # The shared pre-checks (issue 20, kbtext): the start words, the verb's last letter,
    # the library markers' colon, in re's case-insensitive letters (İ ı ſ K) and full width.
    *(f"Text\n{marker}\n> q\nmore text\n" for marker in (
        "ON Mon, 1 Dec 2026, A WROTE:", "İl 1 dic 2026, A ha scritto:",
        "ıl 1 dic 2026, A ha scritto:", "In meſſage <a@b.example>, A writes:",
        "  >* On Mon A wrote", "On Mon A wrote :  ", "On Mon A wrote:\u3000",
        "x y@z.example SCHRIEB", "x y@z.example a ÉCRIT :", "x y@z.example ESCRIBIÓ",
        "A via B WROTE", "A via B wrotE:", "a via b schrieb\t", "A via B wrote:x",
        "Am 1.12.2026 schrieb A B:", "2026年12月1日(月) 10:00 A <a@b.example>:",
        "2026年12月1日 A 写道：", "2026년 12월 1일 A님이 작성하였습니다:",
        "Den 1 dec 2026 skrev A B:", "Dne 1. 12. 2026 A napsal(a):", "Op 1 dec A schreef:",
        "Le 1 déc. 2026, A a écrit :", "El 1 dic 2026, A escribió:")),
]


def _mixed(bodies: list[str]) -> list[str]:
    """Long bodies: the fixture lines as text, quoted and interleaved (a memo hit per line)."""
    lines = [x for b in bodies for x in b.splitlines()][:800]
    return ["\n".join(lines), "\n".join(f"> {x}" for x in lines),
            "\n".join(x for line in lines for x in (line, "> " + line)),
            "Top text\n\n" + "\n".join(lines[::-1])]


@pytest.mark.parametrize("strip", [True, False])
def test_same_answers_on_fixtures_and_edges(strip: bool) -> None:
    named = _fixture_bodies()
    bodies = [b for _, b in named] + EDGE + _mixed([b for _, b in named])
    names = [n for n, _ in named] + [f"edge{n}" for n in range(len(EDGE))] + \
        [f"mixed{n}" for n in range(4)]
    differ = [n for n, b in zip(names, bodies, strict=True)
              if reply_text(b, strip) != reply_text_oracle(b, strip)]
    assert not differ


@pytest.mark.parametrize(("pattern", "colon"), [
    ("^((?:> ?)*On\\s(?:.+?\\s?.+?)\\s?wrote:)$", True), ("^(x)(a:)$", True),
    ("^(?:a|b)c:$", True), ("^(a(b|c)d:)$", True), ("^(?P<x>a:)$", True), ("^[:|]:$", True),
    ("^(a.+?>):$", True), ("^(x写道：)$", True),
    ("^(a|b:)$", False), ("^a|b:$", False), ("^a\\:$", False), ("^a:$$", False),
    ("^.*(?!a:)$", False), ("^(a:)?$", False), ("^a:", False), ("^[a:]$", False)])
def test_a_library_marker_is_gated_on_a_colon_only_when_it_must_end_in_one(
        pattern: str, colon: bool) -> None:
    assert _ends_in_colon(pattern) is colon

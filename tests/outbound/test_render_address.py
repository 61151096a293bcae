"""`check_address` without its `parseaddr` (issue 20) accepts and refuses what it did, in
the same words: the function as it was is kept below and both are asked about the
addresses of the mail corpus and the fixtures, hand-made shapes and random text."""

from __future__ import annotations

import random
from email import message_from_binary_file, policy
from email.utils import getaddresses, parseaddr
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.render import _ADDRESS, InvalidAddress, check_address
from tests.conftest import CORPUS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"
ATEXT = "ABCabcxyz0189!#$%&'*+/=?^_`{|}~-"


def _before(address: str) -> str:
    """`check_address` before issue 20 (uncached): the parse after the regex."""
    from maildesk.addresses import AddressError, normalize

    try:
        text = normalize(address or "", utf8=True)
    except AddressError as exc:
        raise InvalidAddress(f"not a deliverable address: {exc}") from None
    if not text.isascii():
        local, _, domain = text.rpartition("@")
        if len(text.encode()) > 254 or not _ADDRESS.fullmatch("x@" + domain):
            raise InvalidAddress(f"not a deliverable address: {text[:80]!r}")
        return f"{local}@{domain.lower()}"
    if len(text) > 254 or not _ADDRESS.fullmatch(text):
        raise InvalidAddress(f"not a deliverable address: {text[:80]!r}")
    name, parsed = parseaddr(text)
    if name or parsed != text or text.count("@") != 1:
        raise InvalidAddress(f"not a deliverable address: {text[:80]!r}")
    local, _, domain = text.partition("@")
    return f"{local}@{domain.lower()}"


def _outcome(check: object, address: str) -> tuple[str, str]:
    try:
        return "ok", check(address)  # type: ignore[operator]
    except InvalidAddress as exc:
        return "refused", str(exc)


def _same(address: str) -> None:
    assert _outcome(check_address.__wrapped__, address) == _outcome(_before, address), \
        address


def _mail_addresses(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        try:
            with path.open("rb") as f:
                msg = message_from_binary_file(f, policy=policy.compat32)
            values = [str(v) for name in ("From", "To", "Cc", "Reply-To", "Sender",
                                          "Return-Path") for v in msg.get_all(name, [])]
            pairs = getaddresses(values)
        # a mail too broken to read (or to parse the addresses of: one in the corpus
        # makes getaddresses recurse too deep) gives none
        except Exception:  # noqa: BLE001
            continue
        found.update(address for _name, address in pairs)
        found.update(values)  # the raw header text too: names, brackets, lists
    return found


def test_fixture_and_corpus_addresses() -> None:
    paths = sorted(FIXTURES.glob("*.eml"))
    if CORPUS.is_dir():
        paths += sorted(p for p in CORPUS.rglob("*") if p.is_file())[:3000]
    addresses = _mail_addresses(paths)
    assert len(addresses) > 30
    accepted = 0
    for address in addresses:
        _same(address)
        accepted += _outcome(_before, address)[0] == "ok"
    assert accepted > 10  # the comparison saw both answers


SHAPES = [
    "a@b.c", "A.B@Example.COM", "x@localhost", "a..b@x.com", ".a@x.com", "a.@x.com",
    "a@x..com", "a@-x.com", "a@x-.com", "a@x_y.com", "a@@x.com", "a@x@y.com", "@x.com",
    "a@", "a", "", " a@x.com ", '"a b"@x.com', '"a"@x.com', "a(b)@x.com", "a@x.com (c)",
    "A <a@x.com>", "<a@x.com>", "a@[127.0.0.1]", "a@x.com.", "josé@bücher.example",
    "a@bücher.example", "x" * 250 + "@x.com", "x" * 240 + "@" + "y" * 60 + ".com",
    "!#$%&'*+/=?^_`{|}~-@x.com", "a.'b@x.com", "a\"b@x.com", "a\\b@x.com",
    "a;b@x.com", "a:b@x.com", "a,b@x.com", "a@x.com\u2028", "a\x00@x.com", "a@x.c\tom",
]


def test_hand_made_shapes() -> None:
    for address in SHAPES:
        _same(address)


def test_random_dot_atoms() -> None:
    """Every shape the regex lets through, on many random ones: still accepted."""
    rng = random.Random(20)
    for _ in range(20000):
        local = ".".join("".join(rng.choice(ATEXT) for _ in range(rng.randint(1, 5)))
                         for _ in range(rng.randint(1, 3)))
        domain = ".".join(rng.choice(["x", "Ab", "a-1", "0", "xn--bcher-kva", "q" * 63])
                          for _ in range(rng.randint(1, 3)))
        address = f"{local}@{domain}"
        assert _outcome(_before, address)[0] == "ok", address
        _same(address)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=ATEXT + "@. \"()<>,;:[]\\\u00e9\n", max_size=30))
def test_random_text(address: str) -> None:
    _same(address)

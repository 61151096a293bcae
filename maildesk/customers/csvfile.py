"""The customers CSV of `maildesk customers import` and `export` (SPEC 16): a header line
naming the columns, UTF-8 with or without a byte-order mark, one customer a row.

Columns: address, name, company, language (required, any order), password_hash and
company_admin (optional). Every row is checked before anything is written, so a bad row is
reported as `FILE:LINE: reason` (the line where its record starts: a quoted field may span
lines) and the import can be all or nothing. `write` produces what `read` takes back.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from maildesk.customers.record import usable_address

__all__ = ["COLUMNS", "BadRow", "CsvError", "Parsed", "Row", "read", "write"]

REQUIRED = ("address", "name", "company", "language")
OPTIONAL = ("password_hash", "company_admin")
COLUMNS = REQUIRED + OPTIONAL
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s.][^@\s]*$")  # one @, something either side
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_YES = {"1", "true", "yes", "y", "t", "on"}
_NO = {"", "0", "false", "no", "n", "f", "off"}
ADDRESS_MAX, NAME_MAX, COMPANY_MAX, LANGUAGE_MAX = 191, 255, 191, 16


class CsvError(ValueError):
    """The file as a whole cannot be read (no header, a missing column): `FILE:LINE: why`."""


@dataclass(frozen=True)
class Row:
    line: int
    address: str
    name: str
    company: str | None
    language: str | None
    password_hash: str | None  # None: keep what the table has
    company_admin: bool | None  # None: the column is absent (keep; new rows: false)


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    columns: tuple[str, ...] = ()


def read(stream: IO[str], name: str) -> Parsed:
    """Every row of the file, checked; raises CsvError when the header is unusable.
    `stream`: opened with newline="" and encoding "utf-8-sig"."""
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvError(f"{name}:1: empty file: expected a header line ("
                       f"{', '.join(REQUIRED)}[, {', '.join(OPTIONAL)}])") from None
    except csv.Error as exc:
        raise CsvError(f"{name}:1: {exc}") from None
    columns = tuple(h.strip().lower() for h in header)
    unknown = [c for c in columns if c not in COLUMNS]
    missing = [c for c in REQUIRED if c not in columns]
    doubled = sorted({c for c in columns if columns.count(c) > 1})
    if unknown or missing or doubled:
        why = "; ".join(text for wrong, text in (
            (unknown, f"unknown column(s) {', '.join(map(repr, unknown))}"),
            (missing, f"missing column(s) {', '.join(missing)}"),
            (doubled, f"column(s) named twice {', '.join(doubled)}")) if wrong)
        raise CsvError(f"{name}:1: {why} (columns: {', '.join(COLUMNS)})")
    out = Parsed(columns=columns)
    seen: dict[str, int] = {}
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # an unclosed quote: nothing after it can be trusted
            out.bad.append(BadRow(start, f"not CSV: {exc}"))
            break
        line, start = start, reader.line_num + 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line
        row = _row(line, columns, cells)
        if isinstance(row, BadRow):
            out.bad.append(row)
        elif row.address in seen:
            out.bad.append(BadRow(line, f"address {row.address} already on line "
                                        f"{seen[row.address]}"))
        else:
            seen[row.address] = line
            out.rows.append(row)
    return out


def _row(line: int, columns: tuple[str, ...], cells: list[str]) -> Row | BadRow:
    if len(cells) != len(columns):
        return BadRow(line, f"{len(cells)} fields, the header has {len(columns)}")
    v = {c: cell.strip() for c, cell in zip(columns, cells, strict=True)}
    if _CONTROL.search("".join(v.values())):  # one scan of the row; the cell named after
        column = next(c for c, value in v.items() if _CONTROL.search(value))
        return BadRow(line, f"{column}: control characters")
    address = usable_address(v["address"])
    if address is None or not _ADDRESS.match(address) or len(address) > ADDRESS_MAX:
        return BadRow(line, f"address: not a mail address: {v['address']!r}")
    if len(v["name"]) > NAME_MAX:
        return BadRow(line, f"name: longer than {NAME_MAX} characters")
    if len(v["company"]) > COMPANY_MAX:
        return BadRow(line, f"company: longer than {COMPANY_MAX} characters")
    language = v["language"]
    if language and (not _LANGUAGE.match(language) or len(language) > LANGUAGE_MAX):
        return BadRow(line, f"language: not a language tag (en, de-AT): {language!r}")
    password_hash = v.get("password_hash") or None
    if password_hash is not None:
        from maildesk.customers.passwords import hash_kind

        if hash_kind(password_hash) is None:
            return BadRow(line, "password_hash: not a bcrypt, argon2 or crypt(3) SHA-512 "
                                "hash (clear text is never taken)")
    admin: bool | None = None
    if "company_admin" in v:
        flag = v["company_admin"].lower()
        if flag not in _YES | _NO:
            return BadRow(line, f"company_admin: not yes/no, true/false or 1/0: "
                                f"{v['company_admin']!r}")
        admin = flag in _YES
    return Row(line, address, v["name"], v["company"] or None,
               language.replace("_", "-") or None, password_hash, admin)


def write(stream: IO[str], rows: Iterable[tuple[object, ...]]) -> int:
    """The header and one line per (address, name, company, language, password_hash,
    company_admin); the number of customers written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for address, name, company, language, password_hash, admin in rows:
        writer.writerow([address, name or "", company or "", language or "",
                         password_hash or "", "true" if admin else "false"])
        count += 1
    return count

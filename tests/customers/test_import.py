"""`maildesk customers import / export / list` through the real CLI: re-import updates and
never duplicates, bad rows named by line (all or nothing, or --skip-bad), export round-trips,
and the progress bar only on a terminal (the CLI run under a pty, and without one)."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Desk

pytestmark = pytest.mark.backends()

BCRYPT = "$2b$12$KIXQ4rM3Xc5OD1tPGPU4XeWbZ7q6QnF3qW0wH1dP7b6m3bYv7nJ1e"
FIRST = (
    "\ufeffaddress,name,company,language,password_hash,company_admin\n"
    f"Ann@Example.org,Ann Archer,Acme,de,{BCRYPT},yes\n"
    "bob@example.org,\"Baker, Bob\",Acme,,,no\n"
    "carl@other.example,Carl,,fr-CA,,\n"
)


def _customers(desk: Desk, *args: str) -> list[dict]:
    result = desk.cli("customers", "--json", *args)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def _export(desk: Desk) -> str:
    result = desk.cli("customers", "export")
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_import_reimport_list_and_export_round_trip(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(FIRST, encoding="utf-8")
    result = desk.cli("customers", "import", str(path))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "imported 3 customers (3 new, 0 updated)"
    assert b"importing" not in result.stderr  # not a terminal: no progress bar
    rows = _customers(desk)
    assert [(r["address"], r["name"], r["company"], r["language"], r["company_admin"])
            for r in rows] == [
        ("ann@example.org", "Ann Archer", "Acme", "de", True),
        ("bob@example.org", "Baker, Bob", "Acme", None, False),
        ("carl@other.example", "Carl", None, "fr-CA", False)]
    assert all("password_hash" not in r for r in rows)  # never listed
    assert [r["address"] for r in _customers(desk, "--company", "Acme")] == [
        "ann@example.org", "bob@example.org"]

    # Re-import: updates what the file says, never a second row; an empty password_hash
    # keeps the stored one, a file without company_admin keeps that flag.
    path.write_text("address,language,name,company\n"
                    "ann@example.org,en,Ann A. Archer,Acme Ltd\n"
                    "dora@example.org,es,Dora,\n", encoding="utf-8")
    result = desk.cli("customers", "import", str(path))
    assert result.stdout.decode().strip() == "imported 2 customers (1 new, 1 updated)"
    rows = {r["address"]: r for r in _customers(desk)}
    assert len(rows) == 4
    assert (rows["ann@example.org"]["name"], rows["ann@example.org"]["company"],
            rows["ann@example.org"]["language"], rows["ann@example.org"]["company_admin"]) == (
        "Ann A. Archer", "Acme Ltd", "en", True)

    exported = _export(desk)
    table = list(csv.reader(io.StringIO(exported)))
    assert table[0] == ["address", "name", "company", "language", "password_hash",
                        "company_admin"]
    assert table[1] == ["ann@example.org", "Ann A. Archer", "Acme Ltd", "en", BCRYPT, "true"]
    assert len(table) == 5
    # Round trip: the export imported again changes nothing, and exports the same.
    path.write_text(exported, encoding="utf-8")
    result = desk.cli("customers", "import", str(path))
    assert result.stdout.decode().strip() == "imported 4 customers (0 new, 4 updated)"
    assert _export(desk) == exported


def test_bad_rows_named_by_line_all_or_nothing_or_skip_bad(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "address,name,company,language,password_hash\n"
        "good@example.org,Good,,en,\n"
        "not-an-address,Bad,,en,\n"                     # line 3
        "\"multi@example.org\",\"two\nlines\",,en,\n"   # lines 4-5: one record, a name
                                                        # with a line break
        "plain@example.org,Plain,,en,secret\n"           # line 6: clear text password
        "good@example.org,Again,,en,\n"                  # line 7: the address twice
        "short@example.org,Short\n"                      # line 8
        "lang@example.org,Lang,,english please,\n"       # line 9
        "zed@example.org,Zed,,en,\n",
        encoding="utf-8")
    result = desk.cli("customers", "import", str(path))
    assert result.returncode == 65
    err = [line for line in result.stderr.decode().splitlines()
           if not line.startswith("maildesk[")]  # log lines (MariaDB's packet size warning)
    assert [line.split(": ")[0] for line in err[:-1]] == [
        f"{path}:3", f"{path}:4", f"{path}:6", f"{path}:7", f"{path}:8", f"{path}:9"]
    assert "not a mail address" in err[0] and "name: control characters" in err[1]
    assert "clear text" in err[2] and "already on line 2" in err[3] and "2 fields" in err[4]
    assert "language: not a language tag" in err[5]
    assert "nothing imported" in err[-1]
    assert _customers(desk) == []  # all or nothing

    result = desk.cli("customers", "import", "--skip-bad", str(path))
    assert result.returncode == 0, result.stderr.decode()
    assert f"{path}:3: " in result.stderr.decode()  # still named
    assert result.stdout.decode().strip() == (
        "imported 2 customers (2 new, 0 updated), 6 bad row(s) skipped")
    names = {r["address"]: r["name"] for r in _customers(desk)}
    assert names == {"good@example.org": "Good", "zed@example.org": "Zed"}

    for header, why in (("address,name,language\n", "missing column(s) company"),
                        ("address,name,company,language,phone\n", "unknown column(s) 'phone'"),
                        ("", "empty file")):
        path.write_text(header, encoding="utf-8")
        result = desk.cli("customers", "import", str(path))
        assert result.returncode == 65 and f"{path}:1: " in result.stderr.decode()
        assert why in result.stderr.decode()
    assert desk.cli("customers", "import", str(tmp_path / "none.csv")).returncode == 66


def _under_pty(desk: Desk, *args: str) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal: what a person sees."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "maildesk", "--config", str(desk.config_path), *args],
        stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, cwd=desk.root,
        env={**os.environ, "COLUMNS": "100"})
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other side closed: the process is done
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(controller)
    return proc.wait(timeout=60), seen.decode(errors="replace")


@pytest.mark.backends("sqlite")
def test_progress_bar_only_on_a_terminal(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("address,name,company,language\n" + "".join(
        f"c{i}@example.org,C {i},Co {i % 7},en\n" for i in range(3000)), encoding="utf-8")
    code, seen = _under_pty(desk, "customers", "import", str(path))
    assert code == 0, seen
    assert "importing" in seen and "100%" in seen and "3000/3000" in seen
    assert "imported 3000 customers (3000 new, 0 updated)" in seen
    result = desk.cli("customers", "import", str(path))  # pipes: quiet
    assert result.returncode == 0
    assert b"importing" not in result.stderr and b"\r" not in result.stderr
    assert result.stdout.decode() == "imported 3000 customers (0 new, 3000 updated)\n"

"""Article store `database` mode on every backend: raw mails and attachments byte for byte
in the `blobs` table (MariaDB: LONGBLOB, within max_allowed_packet), no shared disk."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from sqlalchemy import text

from maildesk.store.models import Article, AttachmentRow
from tests.conftest import Desk

pytestmark = pytest.mark.backends()


def _mail_with_attachment(size: int) -> tuple[bytes, bytes]:
    payload = os.urandom(size)
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    raw = (b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\n"
           b"Subject: the log file\r\nMessage-ID: <" + os.urandom(6).hex().encode()
           + b"@example.org>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nSee attached \xc3\xa9\r\n--XX\r\n"
           b"Content-Type: application/octet-stream; name=\"log.bin\"\r\n"
           b"Content-Disposition: attachment; filename=\"log.bin\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--XX--\r\n")
    return raw, payload


def _check_stored(desk: Desk, raw: bytes, payload: bytes) -> None:
    outcome = desk.ingest(raw)
    assert outcome.result == "stored", outcome
    app = desk.app()
    try:
        assert not (app.store.root).exists()  # nothing on the local disk
        with app.db.reading() as s:
            article = s.query(Article).one()
            assert article.raw_sha256 == hashlib.sha256(raw).hexdigest()
            assert app.store.get(s, article.raw_key) == raw
            for attachment in s.query(AttachmentRow):  # decoded parts, as blobs too
                data = app.store.get(s, attachment.sha256)
                assert hashlib.sha256(data).hexdigest() == attachment.sha256
        with app.db.transaction() as s:
            key = app.store.put(s, payload)
        with app.db.reading() as s:
            assert app.store.get(s, key) == payload
    finally:
        app.close()


def test_database_mode_keeps_bytes_exactly(desk_factory) -> None:  # noqa: ANN001
    desk = desk_factory(articles="database")
    raw, payload = _mail_with_attachment(3 * 1024 * 1024)
    _check_stored(desk, raw, payload)


def test_database_mode_takes_a_20_mib_mail(desk_factory, backend: str) -> None:  # noqa: ANN001
    desk = desk_factory(articles="database")
    if backend == "mariadb":
        app = desk.app()
        with app.db.engine.connect() as conn:
            packet = int(conn.execute(text("SELECT @@max_allowed_packet")).scalar() or 0)
        app.close()
        if packet < 48 * 1024 * 1024:
            pytest.skip(f"MariaDB max_allowed_packet is {packet} bytes; a 20 MiB mail needs "
                        "more (set max_allowed_packet=64M, as .ci/run does)")
    raw, payload = _mail_with_attachment(20 * 1024 * 1024 * 3 // 4)
    assert len(raw) > 20 * 1024 * 1024
    _check_stored(desk, raw, payload)

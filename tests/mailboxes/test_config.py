"""The `mailboxes:` section: URLs, secrets and `after`, with file:line errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from maildesk.config import ConfigError, load_config

HEAD = """\
queues:
  - name: Support
    address: support@example.com
mailboxes:
"""


def _load(tmp_path: Path, body: str):  # noqa: ANN202
    path = tmp_path / "maildesk.yaml"
    path.write_text(HEAD + body)
    return load_config(path)


def test_a_full_mailbox(tmp_path: Path) -> None:
    config = _load(tmp_path, """\
  - name: gmail support
    url: imaps://support%40example.com@imap.example.com/INBOX
    password_file: imap.pass
    recipient: support+mbox@example.com
    after: move:Processed
    idle: false
    poll_every: 2m
    since: 2026-01-01
  - name: pop
    url: pop3://support%40example.com@pop.example.com:1110
    oauth2_token_file: /etc/maildesk/token.json
    recipient: support@example.com
    after: delete
""")
    imap, pop = config.mailboxes
    assert (imap.protocol, imap.security, imap.host, imap.port) == ("imap", "tls",
                                                                    "imap.example.com", 993)
    assert imap.username == "support@example.com" and imap.folder == "INBOX"
    assert imap.password_file == tmp_path / "imap.pass"
    assert (imap.after, imap.move_to, imap.idle, imap.poll_every) == ("move", "Processed",
                                                                      False, 120.0)
    assert imap.since == date(2026, 1, 1)
    assert imap.url == "imaps://support@example.com@imap.example.com:993/INBOX"
    assert (pop.protocol, pop.security, pop.port, pop.folder) == ("pop3", "starttls", 1110, "")
    assert pop.oauth2_token_file == Path("/etc/maildesk/token.json")
    assert config.mailbox("pop") is pop


@pytest.mark.parametrize(("body", "message"), [
    ("url: ftp://u@h/\n    password_file: p", "unknown scheme 'ftp'"),
    ("url: imaps://u:secret@h/\n    password_file: p", "does not belong in the URL"),
    ("url: imaps://h/\n    password_file: p", "no user name"),
    ("url: pop3s://u@h/INBOX\n    password_file: p", "POP3 has no folders"),
    ("url: imaps://u@h/", "exactly one of password_file, oauth2_token_file"),
    ("url: imaps://u@h/\n    password_file: p\n    oauth2_token_file: t", "exactly one of"),
    ("url: imaps://u@h/\n    password_file: p\n    after: archive", "delete, seen, move:FOLDER"),
    ("url: pop3s://u@h\n    password_file: p\n    after: move:X", "POP3 has no folders to"),
    ("url: imaps://u@h/\n    password_file: p\n    since: yesterday", "not a date"),
    ("url: imaps://u@h/\n    password_file: p\n    colour: red", "unknown key 'colour'"),
])
def test_bad_mailboxes_are_file_line_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"  - name: m\n    recipient: support@example.com\n    {body}\n")
    assert any(message in m and m.startswith(f"{tmp_path}/maildesk.yaml:")
               for m in caught.value.messages), caught.value.messages


def test_recipient_must_be_a_queue_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "  - name: m\n    url: imaps://u@h/\n    password_file: p\n"
                        "    recipient: nobody@example.com\n")
    assert "maildesk.yaml:8: mailbox 'm': recipient nobody@example.com is not a queue" in \
        caught.value.messages[0]

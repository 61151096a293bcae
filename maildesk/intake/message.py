"""What the pipeline knows of one mail after parsing: plain values, no email.Message."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Attachment", "Envelope", "ParsedMail"]


@dataclass(frozen=True)
class Envelope:
    """SMTP envelope and trace data, kept beside the raw bytes (never prepended)."""

    sender: str = ""  # MAIL FROM; "" is the null sender <>
    recipients: tuple[str, ...] = ()
    peer: str = ""
    helo: str = ""


@dataclass
class Attachment:
    filename: str  # already safe: no path parts, no "..", no control chars, <= 255 bytes
    content_type: str
    data: bytes
    size: int
    sha256: str
    content_id: str | None = None


@dataclass
class ParsedMail:
    """Decoded fields of a mail. Every string here is free of CR/LF where it is a header."""

    message_id: str | None = None  # without <>, as written (case kept)
    in_reply_to: list[str] = field(default_factory=list)  # ids without <>
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_addr: str | None = None  # lowercase addr-spec of the single From address, or None
    from_name: str = ""
    from_count: int = 0  # addresses found in From headers (identity is trusted only at 1)
    reply_to: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)  # lowercase addr-specs
    cc: list[str] = field(default_factory=list)
    date: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)  # decoded, in order
    content_type: str = "text/plain"
    body: str = ""  # text/plain preferred; HTML converted to text
    body_from_html: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caps hit, defects, fallbacks
    truncated: bool = False  # a cap was hit: fields are what could be extracted

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitive."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

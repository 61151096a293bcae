"""The JSON shapes of `/api/v1`, declared once: requests are strict and refuse unknown
fields (422); the OpenAPI document is generated from these classes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ArticleIn",
    "AttachmentIn",
    "CommandResult",
    "CommandsIn",
    "CommandsOut",
    "TicketIn",
    "TicketPage",
]

# ASCII classes only (never \s): pydantic's regex and the ECMA-262 dialect of OpenAPI
# tools disagree on what counts as whitespace (research/wave2.md section 2).
ADDRESS = r"^[^@ \t\r\n<>()\[\],;:\"]{1,64}@[A-Za-z0-9.\-]{1,255}$"
SHA256 = r"^[0-9a-f]{64}$"


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class AttachmentIn(_In):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255,
                              pattern=r"^[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+$")
    content_base64: str = Field(description="the file's bytes, base64 (RFC 4648)")


class TicketIn(_In):
    customer: str = Field(pattern=ADDRESS, max_length=191,
                          description="the customer's mail address; answers go there")
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(max_length=10_000_000)
    queue: str | None = Field(default=None, min_length=1, max_length=100)
    priority: int | None = Field(default=None, ge=1, le=5)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)


class ArticleIn(_In):
    body: str = Field(min_length=1, max_length=10_000_000)
    visibility: Literal["public", "internal"] = Field(
        description="public: an answer mailed to the customer as the queue; internal: a note")


class CommandsIn(_In):
    commands: list[str] = Field(min_length=1, max_length=50,
                                description='mail commands, e.g. ["/close"]')


class CommandResult(BaseModel):
    line: str
    ok: bool
    message: str


class CommandsOut(BaseModel):
    applied: bool
    results: list[CommandResult]
    ticket: dict[str, Any]


class TicketPage(BaseModel):
    tickets: list[dict[str, Any]]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; "
                                                "null on the last")

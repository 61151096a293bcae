"""The JSON shapes of `/api/v1`, declared once: requests are strict and refuse unknown
fields (422); the OpenAPI document is generated from these classes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
# What the outbound side will mail to (maildesk.outbound.render.check_address): a dot-atom
# local part and a DNS host name; anything else could never get an answer.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$"
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
SHA256 = r"^[0-9a-f]{64}$"


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class AttachmentIn(_In):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255,
                              pattern=r"^[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+$")
    content_base64: str = Field(pattern=BASE64, description="the file's bytes, base64 "
                                                            "(RFC 4648, padded)")


def _whole_number(value: object) -> object:
    """JSON Schema's integer includes 2.0; booleans and strings are not numbers here."""
    if isinstance(value, bool) or isinstance(value, str):
        raise ValueError("must be a whole number from 1 to 5")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class TicketIn(_In):
    customer: str = Field(pattern=ADDRESS, max_length=191,
                          description="the customer's mail address; answers go there")
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(max_length=10_000_000)
    queue: str | None = Field(default=None, min_length=1, max_length=100)
    priority: int | None = Field(default=None, ge=1, le=5, strict=False)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)

    _priority = field_validator("priority", mode="before")(_whole_number)


class ArticleIn(_In):
    body: str = Field(min_length=1, max_length=10_000_000)
    visibility: Literal["public", "internal"] = Field(
        description="public: an answer mailed to the customer as the queue; internal: a note")
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=100,
        description="files of the article; a public article mails them to the customer "
                    "(413 when they would make a mail over listen.max_message_size)")


CommandLine = Annotated[str, Field(pattern=r"^ *\/[^\r\n]{0,498}$",
                                   description="one command line, as in a mail")]


class CommandsIn(_In):
    commands: list[CommandLine] = Field(min_length=1, max_length=50,
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

"""Every failure is `{"error": {"code", "message"}}` with the right status (SPEC 14).

FastAPI's defaults answer `{"detail": ...}` in three places, so all three are replaced: its
validation errors (422), Starlette's HTTPException (404, 405, malformed JSON's 400: the
handler must be registered for Starlette's class, FastAPI's subclass misses some), and any
other exception (500 without a traceback; the traceback goes to the log). The OpenAPI
document is patched to say so (FastAPI hard-codes its own 422 schema, fastapi #305).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.errors import MaildeskError

__all__ = ["ApiError", "ErrorBody", "ErrorEnvelope", "error_responses", "install", "json_bytes"]

log = logging.getLogger("maildesk.http")

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    412: "precondition_failed", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 428: "precondition_required", 429: "rate_limited", 500: "internal",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    results: list[dict[str, Any]] | None = None  # /commands: every line's result


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: ErrorBody


class ApiError(MaildeskError):
    """Raised by routes and dependencies; becomes the envelope with `status`."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.headers = headers or {}


def json_bytes(content: Any) -> bytes:
    """What `JSONResponse` sends for `content`, made where the caller likes (a worker
    thread: the API's reads encode there, off the event loop)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


def envelope(status: int, message: str, code: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: these statuses answer the envelope."""
    return {s: {"model": ErrorEnvelope, "description": CODES.get(s, "error")} for s in statuses}


def install(app: FastAPI, extra: Callable[[dict[str, Any]], None] | None = None) -> None:
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _patch_openapi(original())
            if extra is not None:
                extra(app.openapi_schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _api_error(request: Request, exc: ApiError) -> Response:
    return envelope(exc.status, exc.message, exc.code, exc.headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_allowed(request)))
    message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such resource: {request.url.path}"
    return envelope(exc.status_code, message, headers=headers or None)


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _allowed(request: Request) -> set[str]:
    """Every method the OpenAPI document lists for this path (Starlette names only the
    first route's); paths outside the document (`/metrics`) are GET only."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if _compiled(template).fullmatch(request.url.path):
            methods |= {m.upper() for m in operations if m in _METHODS}
    return methods or {"GET"}


@functools.cache
def _compiled(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        elif err.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
        else:
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return envelope(422, "; ".join(parts) or "invalid request")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("HTTP %s %s failed", request.method, request.url.path, exc_info=exc)
    from maildesk.app import is_transient
    from maildesk.store.db import is_conflict

    if is_conflict(exc):  # still losing after the retries: the client decides
        return envelope(409, "another change to the same ticket won; read it and retry")
    if is_transient(exc):
        return envelope(503, "the database or the disk is not available; try again later",
                        headers={"Retry-After": "5"})
    return envelope(500, "internal error (logged on the server)")


def _patch_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path in doc.get("paths", {}).values():
        for op in path.values():
            responses = op.get("responses", {})
            for status, response in responses.items():
                if status == "422" or (status.startswith(("4", "5"))
                                       and "content" not in response):
                    response["content"] = {"application/json": {"schema": ref}}
            if "422" not in responses and (op.get("requestBody") or op.get("parameters")):
                responses["422"] = {"description": "invalid",
                                    "content": {"application/json": {"schema": ref}}}
            if op.get("requestBody") or op.get("parameters"):
                responses.setdefault("400", {"description": "bad_request",
                                             "content": {"application/json": {"schema": ref}}})
    return doc

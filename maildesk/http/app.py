"""The ASGI application: one FastAPI app for the API, health, metrics and the web pages
(`maildesk.http.web`, SPEC 15)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from maildesk.http import api, errors, health, kb
from maildesk.http.context import HttpContext
from maildesk.http.limits import BodyLimit
from maildesk.http.metrics import RequestMetrics

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["create_app"]

API_PREFIX = "/api/v1"


def create_app(ctx: HttpContext) -> ASGIApp:
    """The application for one daemon; the outermost layers count and cap every request."""
    app = FastAPI(
        title="maildesk",
        version="1",
        summary="A mail-first helpdesk: tickets for other applications (SPEC 14)",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app, extra=lambda doc: _queues_enum(doc, ctx))
    app.include_router(health.router)
    app.include_router(kb.router)  # public knowledge base pages (maildesk.kb)
    app.include_router(api.router, prefix=API_PREFIX)
    from maildesk.http import web  # the pages (SPEC 15)

    web.install(app)
    outer: ASGIApp = BodyLimit(app, lambda: ctx.app.config.listen.max_message_size)
    return RequestMetrics(outer, ctx.metrics)


def _queues_enum(doc: dict[str, Any], ctx: HttpContext) -> None:
    """`queue` names one of the configured queues: said in the document, so clients and
    schemathesis know it (pydantic checks it against the config of the moment)."""
    names = [q.name for q in ctx.app.config.queues]
    schema = doc.get("components", {}).get("schemas", {}).get("TicketIn", {})
    queue = schema.get("properties", {}).get("queue")
    if queue is not None:
        queue["anyOf"] = [{"type": "string", "enum": names}, {"type": "null"}]

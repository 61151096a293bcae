"""Files the pages load, served by maildesk itself (no CDN, no build step): the vendored
htmx, the stylesheet, the small script, and the configured logo (`web.logo`)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from maildesk.http.context import Ctx
from maildesk.http.web.viewer import WebError
from maildesk.i18n import N_

__all__ = ["STATIC", "router"]

STATIC = Path(__file__).resolve().parent / "static"
FILES = {p.name for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else set()
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/x-icon",
               "image/svg+xml"}

router = APIRouter(include_in_schema=False)


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    if name not in FILES:  # a fixed list: no path is built from the request
        raise WebError(404, N_("No such file."))
    return FileResponse(STATIC / name, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/branding/logo")
async def logo(ctx: Ctx) -> Response:
    """`web.logo` as an image; an SVG opened on its own runs no script (its CSP)."""
    path = ctx.rt.config.web.logo
    kind = mimetypes.guess_type(str(path))[0] if path else None
    if path is None or kind not in IMAGE_TYPES or not path.is_file():
        raise WebError(404, N_("No logo."))
    return FileResponse(path, media_type=kind, headers={
        "Cache-Control": "public, max-age=300",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox"})

"""HTTP: the JSON API for other applications, health and metrics (SPEC 14), and later the
web pages (SPEC 15), all in one ASGI application that `serve` runs inside its event loop.

Only `serve` imports this package (`deliver` must stay free of the web stack). Layout:

* `app.create_app` builds the application (the one place routers are mounted);
* `context.HttpContext` is what every route reaches: the App, a thread pool for blocking
  work, the metrics; routes never open sessions of their own beyond `ctx.read`/`ctx.write`;
* `errors` makes every failure the `{"error": {"code", "message"}}` envelope;
* `auth` checks Bearer tokens, their queues and scope, and rate limits;
* `api/` holds the `/api/v1` routes; `health` `/healthz` and `/metrics`;
* `web/` (issue 16) will hold the pages, mounted beside `api/` in `create_app`;
* `server.EmbeddedServer` runs uvicorn without letting it touch signals.
"""

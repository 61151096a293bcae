"""The `customers:` backends of a config, each behind its cache (maildesk.customers.cache),
in the order the config lists them; `lookup.find` asks the table first, then these.

Built once per config: the engines, connections and caches live as long as the config
does, so a reload (a new Config) gets fresh ones and the old ones are closed.
"""

from __future__ import annotations

import threading

from maildesk.config.customers import CustomerBackend
from maildesk.config.model import Config
from maildesk.customers.cache import CachedBackend
from maildesk.customers.record import Backend

__all__ = ["backends_from_config", "close_all", "make_backend"]

_built: dict[int, tuple[Config, list[Backend]]] = {}
_lock = threading.Lock()
KEEP = 4  # configs whose backends stay open (a reload keeps the previous one for a while)


def make_backend(cfg: CustomerBackend) -> CachedBackend:
    """One configured backend, cached."""
    inner: Backend
    if cfg.backend == "sql":
        from maildesk.customers.sql import SqlBackend

        inner = SqlBackend(cfg)
    else:
        from maildesk.customers.ldap import LdapBackend

        inner = LdapBackend(cfg)
    return CachedBackend(
        inner, ttl=cfg.cache_ttl, size=cfg.cache_size, timeout=cfg.timeout,
        retry_after=cfg.retry_after,
    )


def backends_from_config(config: Config) -> list[Backend]:
    """The configured backends in order (empty without a `customers:` section)."""
    if not config.customers:
        return []
    with _lock:
        known = _built.get(id(config))
        if known is not None and known[0] is config:
            return list(known[1])
        backends: list[Backend] = [make_backend(cfg) for cfg in config.customers]
        _built[id(config)] = (config, backends)
        while len(_built) > KEEP:
            _, old = _built.pop(next(iter(_built)))
            for backend in old:
                if isinstance(backend, CachedBackend):
                    backend.close()
        return list(backends)


def close_all() -> None:
    """Close every backend built so far (at the end of a process, or of a test)."""
    with _lock:
        built = list(_built.values())
        _built.clear()
    for _, backends in built:
        for backend in backends:
            if isinstance(backend, CachedBackend):
                backend.close()

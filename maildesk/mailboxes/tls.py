"""The TLS context of a mailbox: the system's trust store, or the file the config names."""

from __future__ import annotations

import ssl

from maildesk.config import Mailbox

__all__ = ["tls_context"]


def tls_context(mailbox: Mailbox) -> ssl.SSLContext:
    """Certificates and host names are always checked; `tls_ca_file` adds a private CA or a
    self-signed certificate to trust instead of the system's list."""
    if mailbox.tls_ca_file is not None:
        return ssl.create_default_context(cafile=str(mailbox.tls_ca_file))
    return ssl.create_default_context()

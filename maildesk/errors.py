"""The exception tree: every error maildesk raises on purpose is a `MaildeskError`, so a
caller (the CLI, the HTTP layer, a test) can catch one family and not a bare Exception.

    MaildeskError
    ├── ConfigError          the config file is wrong (maildesk.config)
    ├── InputError           a value from outside that maildesk will not take (ValueError)
    │   ├── AddressError     not an address we receive for or send to (maildesk.addresses)
    │   ├── InvalidAddress   an address that must not reach a header (outbound.render)
    │   └── RegexError       a pattern RE2 cannot take (maildesk.config.patterns)
    ├── CommandError         a command line that cannot apply (maildesk.commands)
    ├── ApiError             an HTTP request answered with an error envelope (http.errors)
    └── Unavailable          another system said no or is away; retried later
        ├── AuthError        a mailbox server refused the login (mailboxes.credentials)
        ├── BackendDown      a customer directory did not answer (customers.record)
        ├── Deferred         the pipeline answered 4xx to a fetched mail (mailboxes.sync)
        └── LeaseLost        another daemon holds the mailbox now (mailboxes.state)

The leaves stay in the modules that raise them (their import paths are public); this
module holds the families only, and imports nothing of maildesk, so any layer may use it.
"""

from __future__ import annotations

__all__ = ["InputError", "MaildeskError", "Unavailable"]


class MaildeskError(Exception):
    """Raised on purpose by maildesk; anything else escaping is a bug."""


class InputError(MaildeskError, ValueError):
    """A value from outside (config, mail, request) that maildesk will not take."""


class Unavailable(MaildeskError):
    """Another system refused or did not answer now: the caller retries later."""

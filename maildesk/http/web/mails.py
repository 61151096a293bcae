"""The login-link mail: through the outbox like every mail maildesk sends (retried,
shown by `maildesk outbox`), from the first queue, marked auto-generated."""

from __future__ import annotations

from sqlalchemy.orm import Session

from maildesk.config import Config
from maildesk.outbound.compose import AUTO_GENERATED, auto_headers, from_queue
from maildesk.outbound.outbox import enqueue
from maildesk.outbound.render import build_message, check_address, new_message_id

__all__ = ["login_mail"]


def login_mail(session: Session, config: Config, address: str, link: str, lang: str) -> None:
    from maildesk.http.web.lang import translations

    _ = translations(lang).gettext
    title = config.web.title
    body = "\n".join([
        _("Hello,"),
        "",
        _("open this link to sign in to %(title)s:") % {"title": title},
        "",
        link,
        "",
        _("The link works once, for 15 minutes. If you did not ask for it, ignore this "
          "mail: nobody can sign in without it."),
        "",
        "-- ",
        title,
    ])
    from_name, from_addr = from_queue(config, None)
    message = build_message(
        from_name=title or from_name, from_addr=from_addr, to=[("", check_address(address))],
        subject=_("Your sign-in link for %(title)s") % {"title": title}, body=body,
        message_id=new_message_id(config.instance.domain), extra=auto_headers(
            config, AUTO_GENERATED))
    enqueue(session, config, ticket=None, kind="login", message=message,
            recipients=[address])

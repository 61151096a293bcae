"""Moved to `maildesk.core.tickets` (the ticket core); kept for code not yet migrated."""

from maildesk.core.tickets import add_article, create_ticket, index_message_id, record, set_state

__all__ = ["add_article", "create_ticket", "index_message_id", "record", "set_state"]

"""Webhooks (SPEC 14): ticket events POSTed as signed JSON through the durable outbox.

`pump` turns the history every entrance writes (mail, HTTP, commands, timers) into outbox
rows of kind `webhook`, in one transaction with the cursor that remembers how far it got,
so each event is queued exactly once however many daemons share the database; `post`
delivers them for the sender with the same retries as mail. Receivers deduplicate on
`X-Maildesk-Delivery` (a resend after a crash carries the same id).
"""

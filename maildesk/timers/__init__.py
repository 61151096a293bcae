"""Time (SPEC 13): due times in the database, and what runs them.

    calendar.py   business time over zoneinfo (weekly hours, holidays, DST)
    policy.py     what the config says per queue (SLA, calendar, level) and lock timeout
    due.py        a ticket's due rows kept in step with the ticket (`sync_ticket`)
    hooks.py      session events: every committed ticket change syncs its due rows
    actions.py    what a due row does: reminder, auto-close, escalation, level, unlock
    run.py        claim due rows (exactly once across daemons) and act; what is due next
    bulk.py       reminders and auto-closes of a batch with statements over the batch
    reminders.py  the batch's reminder mails (deferred Specs) in one multi-row INSERT
    rows.py       due rows as plain objects, `sync_ticket`'s changes written per batch
    scheduler.py  the loop inside `serve` that sleeps until the next due time
"""

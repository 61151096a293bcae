"""The ticket core: the one door every entrance (mail, HTTP API, web, timers, CLI) uses to
change and read tickets.

- `actors`: who acts (agent, customer, API token, system), through what, with which
  permissions per queue;
- `commands`: `run_block`, a command block with permissions and locks, all or none;
- `operations`: create a ticket, add an article (customer mail, agent answer, note);
- `queries`: reading tickets for the CLI and the pages.

Import the modules themselves; this package file imports nothing, so that loading one part
never loads the others.
"""

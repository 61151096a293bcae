"""The `maildesk` admin commands' bodies; maildesk/cli.py parses and dispatches."""

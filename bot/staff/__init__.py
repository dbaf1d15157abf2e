"""Staff accounts, roles, tokens, login limits and the audit log of the back office."""

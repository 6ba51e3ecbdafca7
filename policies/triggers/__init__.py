"""Deciding *when*: the trigger engine (five kinds of rules) and the guardrails around every moment."""

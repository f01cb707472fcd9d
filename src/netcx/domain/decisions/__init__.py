"""Decisions: which experience a visitor gets now, under policy, contact rules and holdouts."""

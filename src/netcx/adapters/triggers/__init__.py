"""Trigger sinks: background delivery queue, dead letters and one transport per destination kind."""

"""Intent detection: taxonomy, rule matching, decayed scoring and household journeys."""

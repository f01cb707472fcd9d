"""Measurement statistics: confidence intervals, NPS, CUPED, SRM, Holm, power (pure functions)."""

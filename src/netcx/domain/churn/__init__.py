"""Churn propensity: feature typing, calibrated gradient boosting, metrics."""

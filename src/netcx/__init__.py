"""netcx: network identity for telecom customer experience."""

__version__ = "0.1.0"

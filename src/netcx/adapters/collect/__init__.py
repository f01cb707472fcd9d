"""Decoders of the collector's wire formats (Segment, Snowplow, netcx tag) into `Event`s."""

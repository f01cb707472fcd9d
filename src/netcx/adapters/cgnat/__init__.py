"""CGNAT logs: vendor syslog port-block parsers, IPFIX NAT events, deterministic NAT config."""

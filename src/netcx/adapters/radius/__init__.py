"""RADIUS accounting: attribute mapping, FreeRADIUS detail files, the UDP listener."""

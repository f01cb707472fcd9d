"""Network identity: address plan, bindings (leases, port blocks, NAT rules), resolution."""

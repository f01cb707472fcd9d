"""The operator inventory a resolver needs: address plan, deterministic NAT rules, CRM lines."""

from __future__ import annotations

from dataclasses import dataclass

from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.plan import AddressPlan


@dataclass(frozen=True)
class NetworkConfig:
    plan: AddressPlan
    nat: DeterministicNat
    directory: LineDirectory

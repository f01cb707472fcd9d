"""The CRM of the simulated operator: accounts, households, subscribers and their lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from netcx import tables
from netcx.simulate import fmt
from netcx.simulate.params import DAY_S, WorldParams

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MOBILE, FIXED = 0, 1
MOBILE_TARIFFS = ["Mobil S", "Mobil M", "Mobil L", "Mobil XL", "Prepaid"]
MOBILE_CHARGE = [9.99, 19.99, 29.99, 49.99, 0.0]
FIXED_TARIFFS = ["DSL 50", "DSL 100", "Glasfaser 300", "Glasfaser 1000", "Kabel 250"]
FIXED_CHARGE = [34.99, 39.99, 49.99, 79.99, 44.99]
PHONES = [
    "iPhone 13",
    "iPhone 15",
    "Galaxy S23",
    "Galaxy A54",
    "Pixel 8",
    "Xiaomi 13T",
    "Fairphone 5",
    "iPhone SE",
]
ROUTERS = ["FRITZ!Box 7590", "FRITZ!Box 5690", "Speedport Smart 4", "Vodafone Station"]
# Devices whose owners have had them longest (older models): a churn risk factor.
OLD_DEVICES = frozenset({"iPhone 13", "iPhone SE", "Galaxy A54", "FRITZ!Box 7590"})
PREPAID = 4  # tariff index of "Prepaid" (no contract, no charge)
SEGMENTS = ["consumer", "premium", "business"]
MSISDN_BASE = 491_700_000_000
IMSI_BASE = 1_010_000_000_000  # printed with 15 digits: 001 01 MSIN (test network)


@dataclass(frozen=True)
class Population:
    """Who exists; index arrays are positions into the CRM tables (ids are derived from them)."""

    hh_area: IntArray
    hh_has_fixed: BoolArray
    n_areas: int
    sub_hh: IntArray
    line_kind: IntArray  # MOBILE | FIXED
    line_sub: IntArray  # -1 for fixed lines
    line_hh: IntArray
    line_contract_end_s: IntArray
    line_tariff: IntArray  # index into MOBILE_TARIFFS / FIXED_TARIFFS by kind
    line_device: IntArray  # index into PHONES / ROUTERS by kind
    line_charge: npt.NDArray[np.float64]  # monthly charge: list price or a legacy price above it

    @property
    def n_households(self) -> int:
        return len(self.hh_area)

    @property
    def mobile_lines(self) -> IntArray:
        return np.flatnonzero(self.line_kind == MOBILE).astype(np.int64)

    @property
    def fixed_lines(self) -> IntArray:
        return np.flatnonzero(self.line_kind == FIXED).astype(np.int64)

    def fixed_line_of_hh(self) -> IntArray:
        """Per household its fixed line index, or -1."""
        out = np.full(self.n_households, -1, dtype=np.int64)
        fixed = self.fixed_lines
        out[self.line_hh[fixed]] = fixed
        return out


def household_ids(idx: IntArray) -> pa.Array:
    return fmt.ids("H", idx, 7)


def account_ids(hh_idx: IntArray) -> pa.Array:
    return fmt.ids("A", hh_idx, 7)


def subscriber_ids(idx: IntArray) -> pa.Array:
    return fmt.ids("S", idx, 7)


def line_ids(idx: IntArray) -> pa.Array:
    return fmt.ids("L", idx, 7)


def area_ids(idx: IntArray) -> pa.Array:
    return fmt.ids("AR", idx, 3)


def msisdns(line_idx: IntArray) -> pa.Array:
    return fmt.dec(MSISDN_BASE + line_idx)


def imsis(line_idx: IntArray) -> pa.Array:
    return fmt.join("00", fmt.dec(IMSI_BASE + line_idx))


def fixed_user_names(line_idx: IntArray) -> pa.Array:
    return fmt.join("dsl-", fmt.dec(line_idx), "@isp.example")


def build_population(p: WorldParams, rng: np.random.Generator) -> Population:
    n = p.households
    n_areas = max(4, n // 400)
    hh_area = rng.integers(0, n_areas, n)
    hh_has_fixed = rng.random(n) < 0.55
    subs_per_hh = 1 + rng.binomial(2, 0.35, n)
    sub_hh = np.repeat(np.arange(n, dtype=np.int64), subs_per_hh)
    has_mobile = rng.random(len(sub_hh)) < 0.78
    mobile_sub = np.flatnonzero(has_mobile).astype(np.int64)
    fixed_hh = np.flatnonzero(hh_has_fixed).astype(np.int64)
    line_kind = np.concatenate(
        [np.full(len(mobile_sub), MOBILE), np.full(len(fixed_hh), FIXED)]
    ).astype(np.int64)
    line_sub = np.concatenate([mobile_sub, np.full(len(fixed_hh), -1)]).astype(np.int64)
    line_hh = np.concatenate([sub_hh[mobile_sub], fixed_hh]).astype(np.int64)
    # Contracts of 24 months started up to 4 years ago; ended ones roll on monthly.
    start = p.start_s - rng.integers(0, 4 * 365, len(line_kind)) * DAY_S
    end = start + 730 * DAY_S
    n_lines = len(line_kind)
    mobile = line_kind == MOBILE
    tariff = rng.integers(0, 5, n_lines)
    device = np.where(
        mobile, rng.integers(0, len(PHONES), n_lines), rng.integers(0, len(ROUTERS), n_lines)
    )
    list_price = np.where(
        mobile, np.asarray(MOBILE_CHARGE)[tariff], np.asarray(FIXED_CHARGE)[tariff]
    )
    # 30 % of lines still pay a legacy price 8-30 % above their tariff's list price.
    markup = np.where(rng.random(n_lines) < 0.3, rng.uniform(0.08, 0.30, n_lines), 0.0)
    charge = np.round(list_price * (1 + markup), 2)
    return Population(
        hh_area=hh_area.astype(np.int64),
        hh_has_fixed=hh_has_fixed,
        n_areas=n_areas,
        sub_hh=sub_hh,
        line_kind=line_kind,
        line_sub=line_sub,
        line_hh=line_hh,
        line_contract_end_s=end.astype(np.int64),
        line_tariff=tariff.astype(np.int64),
        line_device=device.astype(np.int64),
        line_charge=charge.astype(np.float64),
    )


def list_price(pop: Population) -> npt.NDArray[np.float64]:
    """The current list price of every line's tariff."""
    mobile = pop.line_kind == MOBILE
    return np.where(
        mobile,
        np.asarray(MOBILE_CHARGE)[pop.line_tariff],
        np.asarray(FIXED_CHARGE)[pop.line_tariff],
    )


def old_device(pop: Population) -> BoolArray:
    mobile = pop.line_kind == MOBILE
    names = np.where(
        mobile,
        np.asarray(PHONES, dtype=object)[np.minimum(pop.line_device, len(PHONES) - 1)],
        np.asarray(ROUTERS, dtype=object)[np.minimum(pop.line_device, len(ROUTERS) - 1)],
    )
    return np.isin(names, sorted(OLD_DEVICES))


def crm_tables(pop: Population, p: WorldParams, rng: np.random.Generator) -> dict[str, pa.Table]:
    """accounts, households, subscribers, lines (one account per household)."""
    n = pop.n_households
    hh = np.arange(n, dtype=np.int64)
    segment = rng.choice(3, n, p=[0.8, 0.12, 0.08])
    created_s = p.start_s - rng.integers(30, 15 * 365, n) * DAY_S
    accounts = pa.table(
        {
            "account_id": account_ids(hh),
            "segment": fmt.pick(SEGMENTS, segment),
            "created_ms": created_s * 1000,
        },
        schema=tables.ACCOUNTS,
    )
    households = pa.table(
        {
            "household_id": household_ids(hh),
            "account_id": account_ids(hh),
            "area_id": area_ids(pop.hh_area),
            "has_fixed": pop.hh_has_fixed,
        },
        schema=tables.HOUSEHOLDS,
    )
    n_sub = len(pop.sub_hh)
    subscribers = pa.table(
        {
            "subscriber_id": subscriber_ids(np.arange(n_sub, dtype=np.int64)),
            "household_id": household_ids(pop.sub_hh),
            "account_id": account_ids(pop.sub_hh),
            "birth_year": rng.integers(1940, 2010, n_sub).astype(np.int16),
        },
        schema=tables.SUBSCRIBERS,
    )
    n_lines = len(pop.line_kind)
    idx = np.arange(n_lines, dtype=np.int64)
    mobile = pop.line_kind == MOBILE
    tariff_i = pop.line_tariff
    tariff = pa.array(
        np.where(
            mobile,
            np.asarray(fmt.pick(MOBILE_TARIFFS, tariff_i), dtype=object),
            np.asarray(fmt.pick(FIXED_TARIFFS, tariff_i), dtype=object),
        ),
        pa.string(),
    )
    charge = pop.line_charge
    device = np.where(
        mobile,
        np.asarray(PHONES, dtype=object)[np.minimum(pop.line_device, len(PHONES) - 1)],
        np.asarray(ROUTERS, dtype=object)[np.minimum(pop.line_device, len(ROUTERS) - 1)],
    )
    sub_or_zero = np.maximum(pop.line_sub, 0)
    lines = pa.table(
        {
            "line_id": line_ids(idx),
            "kind": fmt.pick(["mobile", "fixed"], pop.line_kind),
            "subscriber_id": fmt.nullify(subscriber_ids(sub_or_zero), mobile),
            "household_id": household_ids(pop.line_hh),
            "account_id": account_ids(pop.line_hh),
            "msisdn": fmt.nullify(msisdns(idx), mobile),
            "imsi": fmt.nullify(imsis(idx), mobile),
            "user_name": fmt.nullify(fixed_user_names(idx), ~mobile),
            "tariff": tariff,
            "device_model": pa.array(device, pa.string()),
            "contract_start_ms": (pop.line_contract_end_s - 730 * DAY_S) * 1000,
            "contract_end_ms": pop.line_contract_end_s * 1000,
            "monthly_charge_eur": charge.astype(np.float64),
            "area_id": area_ids(pop.hh_area[pop.line_hh]),
        },
        schema=tables.LINES,
    )
    return {
        "accounts": accounts,
        "households": households,
        "subscribers": subscribers,
        "lines": lines,
    }

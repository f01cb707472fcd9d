"""The knobs of a simulated world: size, seed, network timing and the true treatment effects."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from netcx.errors import InvalidInput

GENERATOR_VERSION = "1"
DAY_S = 86_400
# A fixed Monday 00:00 UTC: worlds do not depend on the wall clock.
DEFAULT_START_S = 1_772_409_600  # 2026-03-02T00:00:00Z
# Outcomes (churn, upgrades, surveys, contacts) are observed this long after the last web day.
OUTCOME_HORIZON_DAYS = 30


@dataclass(frozen=True)
class WorldParams:
    """Everything that determines a world; with the same values the bytes are the same."""

    households: int
    days: int
    seed: int = 1
    start_s: int = DEFAULT_START_S
    # Acct-Interim-Interval of every NAS. Real NASes send every 15-60 min; 24 h (Juniper's
    # largest update-interval) keeps a 100k-household month near nine million accounting
    # records (see docs/world.md); small worlds can afford --interim-interval-s 900.
    interim_interval_s: int = 86_400
    true_nps_uplift: float = 5.0
    true_churn_relative_change: float = -0.2
    true_repeat_contact_relative_change: float = -0.3
    true_asked_again_relative_change: float = -0.5

    def __post_init__(self) -> None:
        if self.households < 1:
            raise InvalidInput(f"must be at least 1, got {self.households}", field="households")
        if self.days < 1:
            raise InvalidInput(f"must be at least 1, got {self.days}", field="days")
        if self.seed < 0:
            raise InvalidInput(f"must be >= 0, got {self.seed}", field="seed")
        if self.interim_interval_s < 60:
            raise InvalidInput(
                f"must be >= 60 s (RFC 2869), got {self.interim_interval_s}",
                field="interim-interval-s",
            )
        for name in (
            "true_churn_relative_change",
            "true_repeat_contact_relative_change",
            "true_asked_again_relative_change",
        ):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise InvalidInput(
                    f"must be within [-1, 1], got {value}", field=name.replace("_", "-")
                )
        if not -100.0 <= self.true_nps_uplift <= 100.0:
            raise InvalidInput(
                f"must be within [-100, 100] NPS points, got {self.true_nps_uplift}",
                field="true-nps-uplift",
            )

    @property
    def end_s(self) -> int:
        return self.start_s + self.days * DAY_S

    @property
    def outcome_end_s(self) -> int:
        return self.end_s + OUTCOME_HORIZON_DAYS * DAY_S

    def effects(self) -> dict[str, float]:
        return {
            "true_nps_uplift": self.true_nps_uplift,
            "true_churn_relative_change": self.true_churn_relative_change,
            "true_repeat_contact_relative_change": self.true_repeat_contact_relative_change,
            "true_asked_again_relative_change": self.true_asked_again_relative_change,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

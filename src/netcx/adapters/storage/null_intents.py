"""RecentIntents that knows no intents: used until the intents area provides its adapter."""

from __future__ import annotations

from collections.abc import Sequence

from netcx.domain.identity import IntentNote


class NoRecentIntents:
    def recent_intents(
        self, subjects: Sequence[str], since_ms: int, limit: int
    ) -> list[IntentNote]:
        return []

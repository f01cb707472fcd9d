"""Per-event intent scoring latency in-process, against a naive matcher/scorer in the same run.

Ours: the taxonomy compiled into one regex per (family, intent, weight) behind a per-family
prefilter, and incremental decayed state (IntentService over the in-memory store, and over
the embedded DuckDB store). Baseline: every rule's regex tried on every field, and every
score recomputed from the subject's whole signal history at each event — what a first
version would do. Goal: ≤ 50 µs per event in-process.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import help_or_run, record
from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.adapters.storage.intent_state_sqlite import SqliteIntentStateStore
from netcx.domain.intents.matching import Matcher, Signal
from netcx.domain.intents.taxonomy import Taxonomy, fold
from netcx.services.intents import IntentService, load_taxonomy

PAGES = [
    ("/kuendigen", "Vertrag kündigen"),
    ("/hilfe/kuendigungsfrist", "Kündigungsfrist berechnen"),
    ("/en/number-porting", "Number porting"),
    ("/tarife/vergleich", "Tarife vergleichen"),
    ("/en/plans/compare", "Compare plans"),
    ("/shop/smartphones", "Smartphones mit Vertrag"),
    ("/geraete/esim", "eSIM einrichten"),
    ("/roaming/eu", "EU-Roaming"),
    ("/glasfaser/verfuegbarkeit", "Glasfaser-Verfügbarkeit prüfen"),
    ("/stoerung", "Störungsmeldungen"),
    ("/hilfe/rechnung", "Hilfe zur Rechnung"),
    ("/en/help/bill", "Help with your bill"),
]
GENERIC = [
    ("/", "Example Telco – Mobilfunk, Internet, TV"),
    ("/angebote", "Aktuelle Angebote"),
    ("/hilfe", "Hilfe und Service"),
    ("/kontakt", "Kontakt"),
    ("/tv", "TV und Streaming"),
    ("/en/help", "Help and support"),
]
SEARCHES = ["kündigen", "roaming usa", "glasfaser verfügbar", "rechnung zu hoch", "öffnungszeiten"]
N_EVENTS = 30_000
N_VISITORS = 3_000


def events() -> list[tuple[Signal, list[str]]]:
    out = []
    for i in range(N_EVENTS):
        v = i % N_VISITORS
        subjects = [f"vi_{v}", f"ln_{v}", f"hh_{v // 2}"]
        ts = 1_772_409_600_000 + i * 20_000
        if i % 10 == 0:
            term = SEARCHES[i % len(SEARCHES)]
            signal = Signal(ts, url=f"https://www.example.de/suche?q={term}", title="Suche",
                            search_term=term, ref=str(i))  # fmt: skip
        else:
            path, title = (PAGES if i % 3 == 0 else GENERIC)[i % 6 if i % 3 else i % len(PAGES)]
            signal = Signal(ts, url=f"https://www.example.de{path}?utm_source=x", title=title,
                            ref=str(i))  # fmt: skip
        out.append((signal, subjects))
    return out


class NaiveScorer:
    """Tries every rule on every field; recomputes scores from all past signals per event."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.history: dict[str, list[tuple[int, str, float]]] = defaultdict(list)

    def score_event(self, signal: Signal, subjects: list[str]) -> list[str]:
        fields = {
            "path": fold(signal.url.split("?")[0].split("://", 1)[-1].partition("/")[2]),
            "query": fold(signal.url.partition("?")[2]),
            "title": fold(signal.title),
            "search": fold(signal.search_term),
            "event": fold(signal.event_name),
            "screen": fold(signal.screen),
        }
        best: dict[str, float] = {}
        for rule in self.taxonomy.rules:
            text = fields[rule.family.value]
            if text and re.search(rule.pattern, text):
                best[rule.intent] = max(best.get(rule.intent, 0.0), rule.weight)
        emerged = []
        for subject in subjects:
            hist = self.history[subject]
            hist.extend((signal.ts_ms, intent, w) for intent, w in best.items())
            for intent in best:
                hl_ms = self.taxonomy.intents[intent].half_life_s * 1000
                score = sum(
                    w * 2 ** (-(signal.ts_ms - t) / hl_ms) for t, i, w in hist if i == intent
                )
                if score >= self.taxonomy.threshold:
                    emerged.append(intent)
        return emerged


def per_event_us(score, stream) -> float:  # type: ignore[no-untyped-def]
    """CPU time per event: wall time on a shared, busy host measures the neighbours."""
    t0 = time.process_time()
    for signal, subjects in stream:
        score(signal, subjects)
    return (time.process_time() - t0) / len(stream) * 1e6


def main() -> None:
    taxonomy = load_taxonomy()
    stream = events()
    matcher = Matcher(taxonomy)
    memory = IntentService(taxonomy, MemoryIntentStateStore())
    naive = NaiveScorer(taxonomy)
    match_us = per_event_us(lambda s, _: matcher.match(s), stream)
    ours_us = per_event_us(memory.score_event, stream)
    naive_us = per_event_us(naive.score_event, stream)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteIntentStateStore(Path(tmp) / "state.sqlite")
        embedded = IntentService(taxonomy, store)
        sqlite_us = per_event_us(embedded.score_event, stream[: N_EVENTS // 10])
        store.close()
    ratio = naive_us / ours_us
    print(f"events: {len(stream)} (3 subjects each: visitor, line, household)")
    print(f"match only:               {match_us:8.1f} µs/event")
    print(f"ours (in-memory state):   {ours_us:8.1f} µs/event   goal ≤ 50")
    print(f"naive baseline:           {naive_us:8.1f} µs/event")
    print(f"ours vs baseline:         {ratio:8.1f}x faster")
    print(f"ours (embedded SQLite):   {sqlite_us:8.1f} µs/event (CPU; plus its file writes)")
    record(
        {
            "intents.per_event_us": ours_us,
            "intents.match_us": match_us,
            "intents.baseline_per_event_us": naive_us,
            "intents.vs_baseline": ratio,
            "intents.per_event_us_sqlite": sqlite_us,
        }
    )


if __name__ == "__main__":
    help_or_run(__doc__)
    main()

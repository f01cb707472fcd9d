"""Fixtures of the intents unit tests: the shipped taxonomy, compiled once."""

from __future__ import annotations

import pytest

from netcx.domain.intents.matching import Matcher
from netcx.domain.intents.scoring import IntentScorer
from netcx.domain.intents.taxonomy import Taxonomy
from netcx.services.intents import load_taxonomy


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def matcher(taxonomy: Taxonomy) -> Matcher:
    return Matcher(taxonomy)


@pytest.fixture(scope="session")
def scorer(taxonomy: Taxonomy) -> IntentScorer:
    return IntentScorer(taxonomy)

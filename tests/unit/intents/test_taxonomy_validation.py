"""Taxonomy files are validated at load; every error names the file and the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netcx.domain.intents.taxonomy import parse_taxonomy
from netcx.errors import ConfigError
from netcx.services.intents import load_taxonomy


def _doc(**rule: Any) -> dict[str, Any]:
    return {"intents": {"roaming": {"rules": [{"family": "path", "match": ["roam"], **rule}]}}}


def test_the_shipped_taxonomy_has_the_eight_intents_in_both_languages() -> None:
    tax = load_taxonomy()
    assert set(tax.intent_names) == {
        "churn_research",
        "tariff_comparison",
        "upgrade",
        "device_compatibility",
        "roaming",
        "fibre_availability",
        "outage",
        "billing_problem",
    }
    for intent in tax.intent_names:
        langs = {r.lang for r in tax.rules if r.intent == intent}
        assert {"de", "en"} <= langs, intent


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_doc(family="url"), "intents.roaming.rules[0].family"),
        (_doc(weight=0), "intents.roaming.rules[0].weight"),
        (_doc(match=[" "]), "intents.roaming.rules[0].match"),
        (_doc(regex=["(unclosed"]), "intents.roaming.rules[0].regex[0]: not a valid regular"),
        (_doc(regex=["(a|b)"]), "intents.roaming.rules[0].regex[0]: use non-capturing"),
        (_doc(regex=["x*"]), "intents.roaming.rules[0].regex[0]: matches the empty string"),
        (_doc(colour="red"), "intents.roaming.rules[0].colour"),
        (_doc(topic="Porting!"), "intents.roaming.rules[0].topic"),
        ({"intents": {"roaming": {"rules": [{"family": "path"}]}}}, "needs at least one"),
        ({"intents": {"Roaming!": {"rules": [{"family": "path", "match": ["x"]}]}}}, "Roaming!"),
        ({"intents": {"none": {"rules": [{"family": "path", "match": ["x"]}]}}}, "intents.none"),
        ({"intents": {}}, "intents"),
        ({"threshold": -1, "intents": {}}, "threshold"),
        ([1, 2], "(top level)"),
    ],
)
def test_errors_name_the_entry(doc: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_taxonomy(doc, "my-taxonomy.yaml")
    assert "my-taxonomy.yaml" in str(err.value)
    assert expected in str(err.value)


def test_load_taxonomy_reports_missing_files_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("intents: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*not valid YAML"):
        load_taxonomy(bad)


def test_an_operator_taxonomy_file_is_used(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(
        "threshold: 2\nintents:\n  loyalty:\n    rules:\n"
        "      - {family: path, lang: de, match: [treuebonus]}\n",
        encoding="utf-8",
    )
    tax = load_taxonomy(f)
    assert tax.intent_names == ("loyalty",)
    assert tax.threshold == 2

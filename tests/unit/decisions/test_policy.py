"""Policy files: the shipped default loads; bad files fail at load naming file, line and entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netcx.domain.decisions.policy import INTENTS, load_policy
from netcx.errors import ConfigError
from netcx.services.decisions import load_policy_file
from tests.unit.decisions.helpers import default_policy

GOOD = """\
version: 1
name: t
holdouts: {salt: salt-salt-salt, universal_share: 0.05}
guards:
  - name: no_acq_for_leavers
    when: {intent: churn_research}
    forbid_categories: [acquisition]
experiences:
  - id: save
    slot: in_session
    category: retention
    priority: 10
    intents: [churn_research]
    recognition: [network_line]
  - id: generic
    slot: in_session
    category: generic
    priority: 0
    recognition: [anonymous]
"""


def test_default_policy_covers_every_intent() -> None:
    policy = default_policy()
    named = {i for e in policy.experiences for i in e.intents}
    assert named == INTENTS
    assert any(e.for_prospects_only and not e.intents for e in policy.experiences)


def test_good_policy_loads() -> None:
    policy = load_policy(GOOD, "p.yaml")
    assert [e.id for e in policy.experiences] == ["save", "generic"]


@pytest.mark.parametrize(
    ("bad", "good", "expected"),
    [
        # unknown intent: names the entry, its line and the field
        (
            "intents: [churn_research]",
            "intents: [churn]",
            "p.yaml:13: experiences[0] 'save': intents: unknown intent(s) ['churn']",
        ),
        # a typo'd field is refused, not ignored
        (
            "    priority: 10\n",
            "    priorty: 10\n",
            "p.yaml:12: experiences[0] 'save': priorty: Extra inputs are not permitted",
        ),
        # a value out of range
        (
            "priority: 10",
            "priority: -1",
            "p.yaml:12: experiences[0] 'save': priority: Input should be greater than or equal",
        ),
        # an acquisition offer for leavers breaks the guard
        (
            "category: retention",
            "category: acquisition",
            "p.yaml:9: experiences[0] 'save': category 'acquisition' breaks guard",
        ),
        # a template naming a field that does not exist
        (
            "recognition: [network_line]\n",
            "recognition: [network_line]\n    params: {x: '{msisdn}'}\n",
            "p.yaml:15: experiences[0] 'save': params.x: unknown field(s) ['msisdn']",
        ),
        # duplicate ids
        (
            "id: generic",
            "id: save",
            "p.yaml:15: experiences[1] 'save': duplicate experience id 'save'",
        ),
        # universal share out of range
        (
            "universal_share: 0.05",
            "universal_share: 1.5",
            "p.yaml:3: holdouts.universal_share: Input should be less than 1",
        ),
        # unknown recognition state
        (
            "recognition: [anonymous]",
            "recognition: [prospect]",
            "p.yaml:19: experiences[1] 'generic': recognition.0: Input should be 'anonymous'",
        ),
    ],
)
def test_bad_policy_fails_naming_the_entry(bad: str, good: str, expected: str) -> None:
    text = GOOD.replace(bad, good, 1)
    assert text != GOOD
    with pytest.raises(ConfigError) as err:
        load_policy(text, "p.yaml")
    assert expected in str(err.value)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml: not valid YAML"):
        load_policy("experiences: [", "p.yaml")
    with pytest.raises(ConfigError, match="no such policy file"):
        load_policy_file(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="a policy is a mapping"):
        load_policy("- 1\n", "p.yaml")


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(
        [
            "id",
            "slot",
            "category",
            "priority",
            "intents",
            "recognition",
            "params",
            "holdout_share",
            "cooldown_s",
            "requires",
        ]
    ),
    value=_values,
)
def test_any_bad_value_is_a_config_error_naming_the_entry(field: str, value: object) -> None:
    data = yaml.safe_load(GOOD)
    data["experiences"][0][field] = value
    try:
        load_policy(yaml.safe_dump(data), "p.yaml")
    except ConfigError as err:
        assert str(err).startswith("p.yaml:")
        assert "experiences[0]" in str(err) or "experiences[1]" in str(err)

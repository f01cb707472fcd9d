"""Every scenario of the upstream r3.2 phoneNumberVerify feature, against a real `netcx serve`.

Step definitions are in conftest.py; the feature file is unmodified (spec/README.md).
"""

import pytest
from pytest_bdd import scenarios

pytestmark = pytest.mark.integration


@pytest.fixture
def operation_id() -> str:
    return "phoneNumberVerify"


scenarios("spec/number-verification-phoneNumberVerify.feature")

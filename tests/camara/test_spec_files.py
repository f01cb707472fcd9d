"""The CAMARA spec and feature files are the unmodified upstream r3.2 files."""

import hashlib
from pathlib import Path

import pytest

SPEC = Path(__file__).parent / "spec"

UPSTREAM_BLOBS = {
    "number-verification.yaml": "1a6358aea1ddea02e8643c2ac16048a924d9ec5e",
    "number-verification-phoneNumberShare.feature": "471f4951dc37c6cc4c4fc7dca73b190b65f9fd34",
    "number-verification-phoneNumberVerify.feature": "83212c5d06d94b270c743cdb6c80e9366479c31c",
    "LICENSE": "261eeb9e9f8b2b4b0d119366dda99c6fd7d35c64",
}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.mark.parametrize("name", sorted(UPSTREAM_BLOBS))
def test_file_is_unmodified_upstream_r3_2(name: str) -> None:
    assert git_blob_sha1((SPEC / name).read_bytes()) == UPSTREAM_BLOBS[name]

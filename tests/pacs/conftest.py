"""The Orthanc fixture: one private server per test session, skipped (with the reason) without the binary."""

from __future__ import annotations

import pytest

from .orthanc import orthanc_binary, start_orthanc


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A running Orthanc on free loopback ports (stopped at the end of the session)."""
    binary = orthanc_binary()
    if binary is None:
        pytest.skip("Orthanc is not installed (Debian package 'orthanc'; .ci/run installs it): "
                    "the PACS tests against a real server are skipped")
    server = start_orthanc(binary, tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()

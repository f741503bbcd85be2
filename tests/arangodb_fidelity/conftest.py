"""Fixtures of the ArangoDB test server's fidelity tests (the server fixtures come from tests/conftest.py)."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture
def http(arango_server, arango_database):
    """A raw HTTP session on the test database (``http.base``), for what the driver hides or cannot send."""
    session = requests.Session()
    session.auth = (arango_server.username, arango_server.password)
    session.base = f"{arango_server.url}/_db/{arango_database.name}"
    yield session
    session.close()

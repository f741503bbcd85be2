"""Fidelity tests of the ArangoDB test server (tests/arangodb): python-arango over real HTTP, as against ArangoDB 3.12."""

"""Fidelity tests of the ArangoDB test server (tests/arangodb): python-arango over real HTTP, as on ArangoDB 3.12."""

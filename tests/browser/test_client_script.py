"""Where the pages load the Socket.IO client from: ``REALTIME_SOCKETIO_CLIENT_URL`` / ``_INTEGRITY`` (no browser)."""

from __future__ import annotations

import pytest

from chat.views import KNOWN_CLIENT_BUILDS, ClientScript, socketio_client
from realtime.config import DEFAULTS
from realtime.errors import ConfigError
from tests.browser.conftest import CLIENT_DIST, DEFAULT_CLIENT_URL, sri_of

PINNED = KNOWN_CLIENT_BUILDS[DEFAULT_CLIENT_URL]


def test_default_is_the_cdn_build_with_its_pinned_integrity():
    assert DEFAULTS["REALTIME_SOCKETIO_CLIENT_URL"] == DEFAULT_CLIENT_URL
    assert socketio_client(DEFAULTS) == ClientScript(DEFAULT_CLIENT_URL, PINNED)


def test_pinned_integrity_is_that_of_the_npm_package_in_package_json():
    # The same file as the CDN's: the browser tests load it with this hash.
    assert sri_of(CLIENT_DIST / "socket.io.min.js") == PINNED


def test_another_url_is_loaded_unchecked_unless_given_an_integrity():
    config = {**DEFAULTS, "REALTIME_SOCKETIO_CLIENT_URL": "/static/vendor/socket.io.min.js"}
    assert socketio_client(config).integrity is None
    config["REALTIME_SOCKETIO_CLIENT_INTEGRITY"] = PINNED
    assert socketio_client(config).integrity == PINNED


def test_empty_integrity_turns_the_check_off():
    assert socketio_client({**DEFAULTS, "REALTIME_SOCKETIO_CLIENT_INTEGRITY": ""}).integrity is None


@pytest.mark.parametrize("value", ["md5-abc", "sha384", "sha384-abc def", "mkQ3/7FUtcGyoppY6bz"])
def test_malformed_integrity_is_a_startup_error(make_app, value):
    # A browser would ignore malformed metadata and run the script unchecked.
    with pytest.raises(ConfigError, match="REALTIME_SOCKETIO_CLIENT_INTEGRITY") as info:
        make_app(REALTIME_SOCKETIO_CLIENT_INTEGRITY=value)
    assert "openssl dgst -sha384" in str(info.value)

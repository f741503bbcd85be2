"""CSRF tokens bound to the session id, so the cookie needs to hold nothing else.

The token is an HMAC of the sid under the app's secret key. Rotating keys
through ``SECRET_KEY_FALLBACKS`` keeps tokens of open forms valid, as it does
for the cookie itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def _digest(key: str | bytes, sid: str) -> str:
    key_bytes = key.encode() if isinstance(key, str) else key
    mac = hmac.new(key_bytes, b"realtime.csrf:" + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(key: str | bytes, sid: str) -> str:
    return _digest(key, sid)


def check_token(keys: Iterable[str | bytes], sid: str, token: object) -> bool:
    """Whether ``token`` was made for ``sid`` under any of ``keys`` (current first)."""
    if not isinstance(token, str) or not token:
        return False
    return any(hmac.compare_digest(_digest(key, sid), token) for key in keys if key)

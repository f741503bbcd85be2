"""Pages that no other site can frame: ``X-Frame-Options`` and CSP ``frame-ancestors`` on HTML responses.

A page of the app inside a frame of another site can be overlaid with
that site's decoys, so a logged-in user clicks the app's buttons without
knowing (clickjacking). Browsers refuse to frame a response that carries
``Content-Security-Policy: frame-ancestors 'none'`` (CSP level 2) or, for
older ones, ``X-Frame-Options: DENY``. ``REALTIME_DENY_FRAMING`` (default
on) adds both to every HTML response of the app that does not decide for
itself (one carrying either header's framing rule is left alone): an app
that frames its own pages sets ``frame-ancestors 'self'``, or turns this off.
"""

from __future__ import annotations

from flask import Flask, Response

FRAME_OPTIONS = "DENY"
FRAME_ANCESTORS = "frame-ancestors 'none'"


def deny_framing(response: Response) -> Response:
    """Add the anti-framing headers to an HTML ``response`` that made no framing decision of its own."""
    if response.mimetype != "text/html" or "X-Frame-Options" in response.headers:
        return response
    policies = response.headers.getlist("Content-Security-Policy")
    if any("frame-ancestors" in policy for policy in policies):
        return response
    response.headers["X-Frame-Options"] = FRAME_OPTIONS
    # A policy of its own, next to any the app sets: browsers enforce each.
    response.headers.add("Content-Security-Policy", FRAME_ANCESTORS)
    return response


def init_app(app: Flask) -> None:
    if app.config["REALTIME_DENY_FRAMING"]:
        app.after_request(deny_framing)

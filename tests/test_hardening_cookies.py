"""The session cookie's attributes, and rotating the key that signs it without logging anyone out.

Against the Procfile's gunicorn process: the Set-Cookie header of a real
login, and a deploy that moves the old key to ``SECRET_KEY_FALLBACKS``
(restarted on the same port, as a deploy would).
"""

from __future__ import annotations

import typing as t

import itsdangerous
import pytest
import requests

from tests.support.hardening import cookie_reader, cookie_signer, hang_up_http, login, running
from tests.support.procs import AppProcess, Browser, Refused, connect, hang_up, procfile_command

OLD_KEY = "old-secret-key-" + "o" * 40
NEW_KEY = "new-secret-key-" + "n" * 40


def session_set_cookie(response) -> dict[str, str | bool]:
    """The attributes of the ``session`` Set-Cookie header, lowercased names."""
    headers = [h for h in response.raw.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(headers) == 1, headers
    attributes: dict[str, str | bool] = {}
    for part in headers[0].split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value or True
    return attributes


@pytest.fixture(scope="module")
def env(request) -> dict[str, str]:
    """One database with alice and bob for the module; each test starts its own process variant."""
    return request.getfixturevalue("e2e_env")()


def test_login_cookie_is_httponly_lax_and_secure_in_production(env):
    with running({**env, "REALTIME_ENV": "production"}) as proc:
        browser = Browser(proc.url)
        page = browser.request("GET", "/login")
        response = browser.login("alice", "alice-pw")
        assert response.status_code == 302
        for attributes in (session_set_cookie(page), session_set_cookie(response)):
            assert attributes["httponly"] is True
            assert attributes["samesite"] == "Lax"
            assert attributes["secure"] is True
            assert attributes["path"] == "/"
        hang_up(connect(proc.url, browser.cookie_header))
        hang_up_http(browser)


def test_development_cookie_is_httponly_and_lax_but_not_secure(make_app, serve):
    """Development serves plain http on localhost, where a Secure cookie would never come back."""
    app = make_app(REALTIME_ENV="development")
    app.extensions["realtime.users"].set_password("alice", "alice-pw")
    live = serve(app)
    browser = Browser(live.url)
    attributes = session_set_cookie(browser.login("alice", "alice-pw"))
    assert attributes["httponly"] is True and attributes["samesite"] == "Lax"
    assert "secure" not in attributes


def test_key_rotation_keeps_logins_sockets_and_open_forms(env):
    env = {**env, "SECRET_KEY": OLD_KEY}
    with running(env) as before:
        port = before.port
        alice = login(before.url)
        signed_with_old = alice.cookie
        hang_up(connect(before.url, alice.cookie_header))
        # Two login forms left open in browsers across the deploy.
        form, stale_form = Browser(before.url), Browser(before.url)
        token, stale_token = form.csrf("/login"), stale_form.csrf("/login")
        hang_up_http(alice, form, stale_form)

    rotated = {**env, "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY}
    with running(rotated, port=port) as after:
        client = connect(after.url, {"Cookie": f"session={signed_with_old}"})
        try:
            assert client.call("echo", {"after": "rotation"}, timeout=5) == {"after": "rotation"}
        finally:
            hang_up(client)
        response = form.request("POST", "/login", data={"username": "bob", "password": "bob-pw", "csrf_token": token})
        assert response.status_code == 302  # a CSRF token made under the old key still counts

        # Any response re-signs the (permanent) session cookie with the new key, same session.
        assert alice.request("GET", "/chat").status_code == 200
        assert alice.cookie != signed_with_old
        assert cookie_reader(NEW_KEY)(alice.cookie) == cookie_reader(OLD_KEY)(signed_with_old)
        with pytest.raises(itsdangerous.BadSignature):
            cookie_reader(OLD_KEY)(alice.cookie)
        hang_up_http(alice, form)

    # The rotation is over: the old key is gone.
    with running({**env, "SECRET_KEY": NEW_KEY}, port=port) as later:
        with pytest.raises(Refused) as info:
            connect(later.url, {"Cookie": f"session={signed_with_old}"})
        assert info.value.reason == "no_cookie"
        hang_up(connect(later.url, alice.cookie_header))  # re-signed during the rotation: still logged in
        data = {"username": "bob", "password": "bob-pw", "csrf_token": stale_token}
        assert stale_form.request("POST", "/login", data=data).status_code == 400
        hang_up_http(alice, stale_form)


# -- SECRET_KEY_FALLBACKS in the drop-in app (tests/dropin_app under gunicorn's eventlet worker) ------------

#: The documented comma-separated form, as the environment carries it.
OLD_KEYS = "old-key-one-" + "1" * 32 + ",old-key-two-" + "2" * 32


def dropin_command() -> list[str]:
    command = procfile_command("web")
    return [*command[:-1], "tests.support.dropin_wsgi:app"]


def dropin_login(url: str) -> Browser:
    """ada logged in to the drop-in app (its own users and login form)."""
    browser = Browser(url)
    response = browser.request("POST", "/login", data={"name": "ada", "password": "ada-pw"})
    assert response.status_code == 302, response.text
    return browser


def resigned(browser: Browser, key: str, real_key: str = NEW_KEY) -> dict[str, str]:
    """The browser's cookie, same session, signed with ``key`` instead."""
    payload = cookie_reader(real_key)(t.cast(str, browser.cookie))
    return {"Cookie": f"session={cookie_signer(key)(payload)}"}


def test_a_string_of_old_keys_in_app_config_stops_the_app_before_any_character_signs_a_cookie(env):
    proc = AppProcess(
        {**env, "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEYS, "DROPIN_FALLBACKS_IN_APP_CONFIG": "1"},
        command=dropin_command(),
    )
    try:
        try:
            proc.start()
        except RuntimeError as exc:
            assert "SECRET_KEY_FALLBACKS in app.config is a string" in str(exc)
            assert "old-key-one" not in str(exc)  # the message never shows a key
            return
        # It started: then each character of the string is a signing key.
        ada = dropin_login(proc.url)
        forged = resigned(ada, "o")
        home = requests.get(proc.url + "/", headers=forged, allow_redirects=False, timeout=5)
        assert home.status_code == 302, f"a cookie signed with the key 'o' got in: {home.text!r}"
        with pytest.raises(Refused):
            hang_up(connect(proc.url, forged))
        pytest.fail("the app started with a string of keys in SECRET_KEY_FALLBACKS")
    finally:
        proc.stop()


def test_a_dropin_app_reads_old_keys_from_the_environment_and_no_character_of_them_signs(env):
    with running({**env, "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEYS}, command=dropin_command()) as proc:
        ada = dropin_login(proc.url)
        # Signed before the rotation, with the second old key: still logged in, socket and page.
        old = resigned(ada, OLD_KEYS.split(",")[1])
        client = connect(proc.url, old)
        try:
            assert client.call("whoami", timeout=5) == {"id": "17", "name": "ada"}
        finally:
            hang_up(client)
        assert requests.get(proc.url + "/", headers=old, allow_redirects=False, timeout=5).text == "Hello, ada"
        for key in ("o", "1", ",", OLD_KEYS):
            forged = resigned(ada, key)
            with pytest.raises(Refused) as info:
                connect(proc.url, forged)
            assert info.value.reason == "no_cookie"
            assert requests.get(proc.url + "/", headers=forged, allow_redirects=False, timeout=5).status_code == 302
        hang_up_http(ada)

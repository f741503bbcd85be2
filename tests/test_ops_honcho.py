"""Local PaaS parity: the Procfile runs under honcho as the README says.

``honcho run`` for one-off commands (like the PaaS's ``run``), ``honcho start
web`` for the web process with ``PORT`` passed on, and SIGTERM to honcho
stopping everything gracefully.
"""

from __future__ import annotations

import signal
import subprocess
import threading

import psutil
import requests

from tests.support.procs import ROOT, VENV_BIN, AppProcess, Browser, base_env, connect, hang_up


def honcho_run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "honcho"), "run", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_honcho_runs_the_procfile_like_the_paas(tmp_path):
    env = base_env(REALTIME_INSTANCE_PATH=str(tmp_path / "instance"), REALTIME_SHUTDOWN_JITTER="1")
    for command in (
        ["flask", "--app", "wsgi", "realtime", "init-db"],
        ["flask", "--app", "wsgi", "realtime", "create-user", "alice", "--password", "alice-pw"],
    ):
        result = honcho_run(env, *command)
        assert result.returncode == 0, result.stdout + result.stderr

    proc = AppProcess(env, command=["honcho", "start", "web"]).start(timeout=30)
    client = None
    try:
        # honcho passes PORT on to the Procfile's web line, as the PaaS does.
        assert requests.get(proc.url + "/healthz", timeout=5).json() == {"status": "ok"}
        children = psutil.Process(proc.proc.pid).children(recursive=True)
        assert any("gunicorn" in " ".join(child.cmdline()) for child in children)

        alice = Browser(proc.url)
        assert alice.login("alice", "alice-pw").status_code == 302
        client = connect(proc.url, alice.cookie_header)
        assert client.call("echo", {"n": 1}, timeout=5) == {"n": 1}
        told = threading.Event()
        client.on("server_shutdown", lambda data: told.set())

        proc.proc.send_signal(signal.SIGTERM)  # to honcho only: it stops its processes itself
        code = proc.proc.wait(15)
        # honcho sends SIGTERM to the process group, so the shell around
        # gunicorn (sh -c "gunicorn ...") dies of it: 143 = 128 + SIGTERM.
        assert code in (0, 143), (code, proc.output()[-600:])
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [child.cmdline() for child in alive]
        assert told.is_set()
        assert "web.1" in proc.output() and "Shutting down: Master" in proc.output()
    finally:
        if client is not None:
            hang_up(client)
        proc.stop(signal.SIGKILL)
        proc.log.close()  # stop() leaves it open when the process exited by itself

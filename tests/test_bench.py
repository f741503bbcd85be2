"""``python -m bench --quick`` runs end to end and reports every metric.

The benchmark is a real program: it starts the ArangoDB test server, the app
under gunicorn (the Procfile's web command), the bare Flask-SocketIO
baseline and the node peer, and drives them with the node load generator.
Only the shape of its output is checked here, never a timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.metrics import catalogue
from bench.run import THROUGHPUT_SCENARIOS
from bench.scenarios import QUICK

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("app", "baseline", "tuned", "peer")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "socket.io-client").is_dir(),
    reason="needs node and `npm ci` (the load generator is node socket.io-client)",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    output = tmp_path_factory.mktemp("bench") / "quick.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"bench failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result, json.loads(output.read_text())


def _metric_keys() -> list[str]:
    return [m.key for m in catalogue(QUICK.idle_stages, QUICK.echo_clients, QUICK.fanout_clients)]


def test_prints_progress_then_the_table(quick_run):
    result, _ = quick_run
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert any("run 1/1 app" in line and "connect_websocket" in line for line in progress)
    assert any("idle run 1/1" in line for line in progress)
    header = next(i for i, line in enumerate(lines) if line.startswith("| metric"))
    assert all(name in lines[header] for name in (*TARGETS, "app ÷ baseline", "tuned ÷ baseline", "target"))
    table_rows = [line for line in lines[header + 2 :] if line.startswith("| ")]
    assert len(table_rows) == len(_metric_keys())
    assert "results written to" in result.stdout


def test_json_has_every_metric_for_every_target(quick_run):
    _, document = quick_run
    rows = {row["key"]: row for row in document["rows"]}
    assert list(rows) == _metric_keys()
    for key, row in rows.items():
        expected = TARGETS
        if key.startswith("arango_"):
            expected = ("app", "peer")  # the baseline and the tuned floor have no database
        for target in expected:
            value = row["values"][target]
            assert value is not None, f"{key} missing for {target}"
            assert value["minimum"] <= value["median"] <= value["maximum"]
    assert document["targets"] == list(TARGETS)
    # Each socket of a step logs in with a session of its own, as browsers would.
    assert document["sessions"] == QUICK.sessions
    assert document["machine"]["versions"]["flask-socketio"]
    assert document["table"].startswith("| metric")


def test_every_socket_did_what_it_was_asked(quick_run):
    _, document = quick_run
    for target in TARGETS:
        (run,) = document["runs"][target]
        assert run["connect_websocket"]["succeeded"] == QUICK.connect_n
        assert run["connect_upgrade"]["succeeded"] == QUICK.upgrade_n
        refused = run["connect_refused"]
        assert refused["succeeded"] == QUICK.refused_n
        assert set(refused["errors"]) == {"Cookie not found"}
        assert run["echo"]["acked"] == QUICK.echo_clients * QUICK.echo_per_client
        assert run["echo"]["wrong"] == run["echo"]["lost"] == 0
        assert run["fanout"]["recipients"] == QUICK.fanout_clients
        assert run["fanout"]["delivered"] == QUICK.fanout_clients * QUICK.fanout_rounds
        assert [stage["still_connected"] for stage in run["idle"]] == list(QUICK.idle_stages)


def test_throughput_load_comes_from_several_generators(quick_run):
    _, document = quick_run
    assert QUICK.generators == document["sizes"]["generators"] == 2
    for target in TARGETS:
        (run,) = document["runs"][target]
        for name in THROUGHPUT_SCENARIOS:
            step = run[name]
            assert step["loadgen_processes"] == QUICK.generators, f"{target} {name}"
            assert step["loadgen_cpu_percent"] <= step["loadgen_cpu_percent_total"]
        # Every round completed: the receiving generator's "got" reached the sender each time.
        fanout = run["fanout"]
        assert fanout["delivered"] == QUICK.fanout_clients * QUICK.fanout_rounds, target
        assert (fanout["rounds"], fanout["incomplete_rounds"]) == (QUICK.fanout_rounds, 0), target
        assert fanout["round_ms"]["p50"] is not None


def test_app_costs_one_database_request_per_connect_and_none_per_event(quick_run):
    _, document = quick_run
    rows = {row["key"]: row for row in document["rows"]}
    assert rows["arango_per_connect"]["values"]["app"]["median"] == 1
    assert rows["arango_per_event"]["values"]["app"]["median"] == 0

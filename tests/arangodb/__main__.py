"""Command line: ``python -m tests.arangodb --host 127.0.0.1 --port PORT ...``.

Prints exactly one line to stdout, ``listening on http://HOST:PORT``, once
the socket accepts connections; logs go to stderr. SIGTERM or SIGINT stop it
cleanly (state file written, exit code 0).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import typing as t

from .server import ArangoTestServer, StateFileError


def parse_args(argv: t.Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.arangodb",
        description="In-memory ArangoDB-compatible HTTP server for tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8529, help="port; 0 picks a free one")
    parser.add_argument("--username", help="superuser name (default root when --password is set)")
    parser.add_argument("--password", help="superuser password; without --username/--password no authentication")
    parser.add_argument(
        "--ttl-frequency",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds between TTL index sweeps, 0 disables them (default 30, as ArangoDB)",
    )
    parser.add_argument(
        "--state-file",
        metavar="PATH",
        help="load data from PATH at start if it exists, save it there on a clean stop",
    )
    parser.add_argument(
        "--extended-names",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="3.12's extended (Unicode) names for databases, collections and indexes (default on, as in 3.12);"
        " --no-extended-names for the traditional [A-Za-z][A-Za-z0-9_-]* convention",
    )
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (DEBUG logs every request)")
    return parser.parse_args(argv)


def main(argv: t.Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = ArangoTestServer(
            args.host,
            args.port,
            username=args.username,
            password=args.password,
            ttl_frequency=args.ttl_frequency,
            state_file=args.state_file,
            extended_names=args.extended_names,
        )
        server.start()
    except (StateFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"listening on {server.url}", flush=True)
    while not stop.wait(1.0):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

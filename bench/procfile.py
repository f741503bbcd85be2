"""Read the Procfile's ``web`` command, so the benchmark runs the app exactly as deployed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

#: ``module:attribute`` (or ``module:factory()``), gunicorn's way to name a WSGI app.
_APP_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(.*\))?$")


class ProcfileError(ValueError):
    """The Procfile is missing, has no ``web`` line, or the line is not a gunicorn command."""


def web_command(procfile: Path) -> list[str]:
    """Return the ``web:`` line of ``procfile`` split into arguments.

    Environment references (``$PORT``) are left as they are; the caller
    expands them against the child's environment.
    """
    try:
        text = procfile.read_text()
    except FileNotFoundError:
        raise ProcfileError(
            f"{procfile} not found: the benchmark starts the app with the Procfile's"
            " 'web:' command; run it from the repository root."
        ) from None
    for line in text.splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == "web":
            argv = shlex.split(command)
            if not argv:
                break
            return argv
    raise ProcfileError(f"{procfile} has no 'web:' line with a command.")


def app_target_index(argv: list[str]) -> int:
    """Index of the WSGI app argument (``wsgi:app``) in a gunicorn command."""
    for index in range(len(argv) - 1, 0, -1):
        if _APP_TARGET.match(argv[index]):
            return index
    raise ProcfileError(
        f"no 'module:app' argument in {shlex.join(argv)!r}: the benchmark expects the"
        " web command to be gunicorn serving a WSGI app."
    )


def with_app_target(argv: list[str], target: str) -> list[str]:
    """The same command serving ``target`` instead (same worker settings)."""
    index = app_target_index(argv)
    return [*argv[:index], target, *argv[index + 1 :]]


def expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """Expand ``$NAME`` / ``${NAME}`` against ``env``, as the Procfile's shell would."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, "")

    pattern = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
    return [pattern.sub(substitute, arg) for arg in argv]

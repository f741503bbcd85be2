"""Import directions of the house (docs/architecture.md), read from the source with ``ast``.

Every import counts: at module top, inside a function, under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import realtime

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Only the public API module imports the extension; nothing in the library imports either.
TOP = {"realtime", "realtime.extension"}
#: The one sanctioned back-reference: ``RealtimeState.extension`` names ``Realtime`` under ``TYPE_CHECKING``
#: (as ``flask/globals.py`` names ``Flask``); ``state.py`` imports nothing from the extension at run time.
TYPE_ONLY_BACK_REFERENCES = {"realtime.state -> realtime.extension"}
#: The sans-I/O core: no Flask request globals (Flask's rule for its own core).
SANS_IO = ("live", "stores", "auth", "sessions", "connections", "rooms", "config", "csrf")
REQUEST_GLOBALS = {"request", "g", "session"}
#: The deliberate lazy imports inside function bodies: the choice of a session store backend. Any other
#: import of the library inside a function would be hiding a cycle.
LAZY_BACKEND_CHOICES = {
    "realtime.emitter -> realtime.stores.arango",
    "realtime.stores -> realtime.stores.arango",
    "realtime.stores -> realtime.stores.sqlite",
}
#: Besides ``realtime.__all__``, what the reference app and the benchmark may import: the modules
#: documented as public, with their public names (None), or only the names listed.
DOCUMENTED = {f"realtime.{name}": None for name in ("logs", "perf", "shutdown", "health", "signals", "emitter")}
DOCUMENTED |= {"realtime.stores.arango": None, "realtime.stores.sqlite": None, "realtime.auth": {"SESSION_KEY"}}


def modules(package: str) -> dict[str, ast.Module]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = ast.parse(path.read_text(), str(path))
    return found


def imports(name: str, tree: ast.Module, is_package: bool) -> set[tuple[str, str]]:
    """``(module, name)`` for each imported name; ``(module, "")`` for ``import module``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name, "") for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = name.split(".")[: len(name.split(".")) + is_package - node.level] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {(module, alias.name) for alias in node.names}
    return found


def edges(package: str) -> set[tuple[str, str, str]]:
    """``(importer, imported module, name)``: ``from . import live`` imports the module ``realtime.live``."""
    trees = modules(package)
    known = set(trees) | set(modules("realtime"))
    found = set()
    for name, tree in trees.items():
        is_package = (ROOT / name.replace(".", "/") / "__init__.py").exists()
        for module, imported in imports(name, tree, is_package):
            submodule = f"{module}.{imported}"
            found.add((name, submodule, "") if submodule in known else (name, module, imported))
    return found


def in_sans_io_core(module: str) -> bool:
    return module.removeprefix("realtime.").split(".")[0] in SANS_IO


def test_nothing_in_the_library_imports_the_extension_or_the_public_api():
    upward = {f"{src} -> {dst}" for src, dst, _ in edges("realtime") if dst in TOP and src not in TOP}
    assert upward - TYPE_ONLY_BACK_REFERENCES == set(), "an upward import: reach per-app state with state.get_state()"


def test_the_sans_io_core_never_touches_the_request_globals():
    touched = {(src, name) for src, module, name in edges("realtime") if module in ("flask", "flask.globals")}
    for src, tree in modules("realtime").items():
        attributes = (node for node in ast.walk(tree) if isinstance(node, ast.Attribute))
        touched |= {(src, a.attr) for a in attributes if getattr(a.value, "id", None) == "flask"}
    core = {f"{src}: flask.{name}" for src, name in touched if name in REQUEST_GLOBALS and in_sans_io_core(src)}
    assert core == set(), "a request global in the sans-I/O core: pass values in"


def test_no_import_of_the_library_inside_a_function_body():
    found = set()
    for name, tree in modules("realtime").items():
        is_package = (ROOT / name.replace(".", "/") / "__init__.py").exists()
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = ast.Module(body=function.body, type_ignores=[])
                found |= {f"{name} -> {module}" for module, _ in imports(name, body, is_package)}
    deferred = {edge for edge in found if edge.split(" -> ")[1].split(".")[0] == "realtime"}
    assert deferred - LAZY_BACKEND_CHOICES == set(), "an import deferred into a function: move it to the top"


def allowed_from_outside(module: str, name: str) -> bool:
    """What code outside the library may import: anything not ``realtime``, its public API, documented modules."""
    if module.split(".")[0] != "realtime":
        return True
    if module == "realtime":
        return name in realtime.__all__
    return module in DOCUMENTED and not name.startswith("_") and name in (DOCUMENTED[module] or {name})


@pytest.mark.parametrize("package", ["chat", "bench"])
def test_the_reference_app_and_the_benchmark_use_only_the_public_api(package):
    private = {f"{src}: {dst} {name}" for src, dst, name in edges(package) if not allowed_from_outside(dst, name)}
    assert private == set(), "internals reached from outside: add what is needed to realtime.__all__"

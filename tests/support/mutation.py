"""A small mutation run: flip a condition, drop a raise, a return value or a call, and see whether tests notice.

Development tool, not CI (docs/mutation-2026-12-03.md has a run and how to
read it)::

    python -m tests.support.mutation --module realtime/guard.py \
        --function GuardCheck.check --function refuse_unsafe_server \
        --tests tests/test_hardening_guard.py --budget 1800

Every mutant is written into a copy of the work tree (``--copy``, made once
with ``git ls-files``, so the subprocess servers the tests start run the
mutated code too), the selected tests run there with ``-x`` and a timeout,
and the original file is put back. A mutant is *killed* when the tests fail
(or time out), *survived* when they pass. Calls to loggers are not mutated
(a log line decides nothing). Results are appended as JSON lines to
``--out``, so a run that hits its ``--budget`` can be resumed with
``--skip-done``, and the survivors of a fast selection run again against
slower tests with ``--retest``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import typing as t
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FLIPPED_COMPARISONS: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
}
_LOGGER_NAMES = ("logger", "guard_logger", "log", "logging")


@dataclass(frozen=True)
class Mutant:
    module: str
    function: str
    line: int
    operator: str
    change: str


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | timeout | error
    seconds: float
    failed: str = ""


def _is_log_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Call):
        return False
    func = node.value.func
    while isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id in _LOGGER_NAMES:
            return True
        func = func.value
    return False


def _functions(tree: ast.Module) -> t.Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function with its qualified name (``Class.method``, ``outer.inner``)."""

    def walk(node: ast.AST, prefix: str) -> t.Iterator[tuple[str, t.Any]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")

    yield from walk(tree, "")


def _own_nodes(function: ast.AST) -> t.Iterator[ast.AST]:
    """The nodes of ``function`` itself, not of functions defined inside it (they are mutated on their own)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _mutations(node: ast.AST) -> t.Iterator[tuple[str, str, t.Callable[[ast.AST], ast.AST | None]]]:
    """``(operator, change, apply)`` for each way to mutate ``node``; ``apply`` edits a copy in place."""
    if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
        source = ast.unparse(node.test)
        yield "negate-condition", f"{source} -> not ({source})", _negate_test
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIPPED_COMPARISONS:
        flipped = _FLIPPED_COMPARISONS[type(node.ops[0])]
        yield "flip-comparison", f"{ast.unparse(node)} ({type(node.ops[0]).__name__} -> {flipped.__name__})", _flip
    if isinstance(node, ast.BoolOp):
        other = "or" if isinstance(node.op, ast.And) else "and"
        yield "swap-boolop", f"{ast.unparse(node)} (-> {other})", _swap_boolop
    if isinstance(node, ast.Raise):
        yield "remove-raise", f"{ast.unparse(node)[:80]} -> pass", lambda n: ast.Pass()
    if isinstance(node, ast.Return) and node.value is not None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
            new = not node.value.value
            yield "flip-return", f"return {node.value.value} -> return {new}", lambda n: _return(new)
        elif not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return-none", f"return {ast.unparse(node.value)[:60]} -> return None", lambda n: _return(None)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and not _is_log_call(node):
        yield "remove-call", f"{ast.unparse(node)[:80]} -> pass", lambda n: ast.Pass()
    if isinstance(node, ast.Continue):
        yield "remove-continue", "continue -> pass", lambda n: ast.Pass()


def _negate_test(node: t.Any) -> t.Any:
    node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    return node


def _flip(node: t.Any) -> t.Any:
    node.ops = [_FLIPPED_COMPARISONS[type(node.ops[0])]()]
    return node


def _swap_boolop(node: t.Any) -> t.Any:
    node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    return node


def _return(value: object) -> ast.Return:
    return ast.Return(value=ast.Constant(value))


def enumerate_mutants(module: str, wanted: t.Collection[str]) -> list[tuple[Mutant, str]]:
    """Every mutant of the wanted functions of ``module`` (all functions if none named), with its source."""
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    found: list[tuple[Mutant, str]] = []
    for name, function in _functions(tree):
        if wanted and name not in wanted:
            continue
        for index, node in enumerate(_own_nodes(function)):
            if _is_docstring(function, node):
                continue
            for operator, change, apply in _mutations(node):
                found.append(
                    (
                        Mutant(module, name, getattr(node, "lineno", 0), operator, change),
                        _mutated_source(tree, name, index, apply),
                    )
                )
    missing = set(wanted) - {name for name, _ in _functions(tree)}
    if missing:
        raise SystemExit(f"{module} has no function(s) {sorted(missing)}")
    return sorted(found, key=lambda pair: (pair[0].line, pair[0].operator))


def _is_docstring(function: t.Any, node: ast.AST) -> bool:
    return bool(function.body) and node is function.body[0] and isinstance(getattr(node, "value", None), ast.Constant)


def _mutated_source(tree: ast.Module, function_name: str, index: int, apply: t.Callable[[t.Any], t.Any]) -> str:
    mutated = copy.deepcopy(tree)
    function = dict(_functions(mutated))[function_name]
    target = list(_own_nodes(function))[index]
    replacement = apply(target)
    if replacement is not target:
        _replace(function, target, replacement)
    return ast.unparse(ast.fix_missing_locations(mutated))


def _replace(root: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(root):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list) and any(item is old for item in value):
                setattr(parent, field, [new if item is old else item for item in value])
                return
            if value is old:
                setattr(parent, field, new)
                return
    raise LookupError("node not found")


def make_copy(target: Path) -> None:
    """The tracked and new (not ignored) files of the work tree, copied to ``target``."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file() and not source.is_symlink():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    if (ROOT / "node_modules").exists():
        (target / "node_modules").symlink_to((ROOT / "node_modules").resolve())


def run_tests(tree: Path, tests: list[str], timeout: float) -> tuple[str, str]:
    argv = [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    # No bytecode: a mutant written within the second of the previous one must not run from its cache.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        result = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    if result.returncode == 0:
        return "survived", ""
    if result.returncode == 1:
        failed = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        return "killed", failed[0][:200] if failed else ""
    return "error", result.stdout[-400:]


def _key(mutant: dict[str, t.Any]) -> str:
    return json.dumps(mutant, sort_keys=True)


def _results(path: Path) -> dict[str, str]:
    """Mutant key -> its last status in a results file."""
    results = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        results[_key(entry["mutant"])] = entry["status"]
    return results


def summary(paths: list[Path]) -> str:
    """Per module: mutants run, killed (timeouts count as killed), survived; then every survivor."""
    # Keyed by the change and its rank among equal changes, not by line: a retest after a rebase that
    # moved the code replaces the earlier outcome of the same mutant.
    last: dict[str, dict[str, t.Any]] = {}
    for path in paths:
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        lines_of: dict[str, list[int]] = {}
        for entry in entries:
            lines_of.setdefault(_key({**entry["mutant"], "line": None}), []).append(entry["mutant"]["line"])
        for entry in entries:
            key = _key({**entry["mutant"], "line": None})
            rank = sorted(set(lines_of[key])).index(entry["mutant"]["line"])
            last[f"{key}#{rank}"] = entry
    rows: dict[str, dict[str, int]] = {}
    for entry in last.values():
        counts = rows.setdefault(entry["mutant"]["module"], {"run": 0, "killed": 0, "survived": 0, "error": 0})
        counts["run"] += 1
        counts["killed" if entry["status"] in ("killed", "timeout") else entry["status"]] += 1
    lines = ["| module | mutants run | killed | survived | error |", "|---|---|---|---|---|"]
    for module, counts in sorted(rows.items()):
        lines.append(f"| {module} | {counts['run']} | {counts['killed']} | {counts['survived']} | {counts['error']} |")
    lines += ["", "| survivor | function | mutation |", "|---|---|---|"]
    for entry in sorted(last.values(), key=lambda e: (e["mutant"]["module"], e["mutant"]["line"])):
        if entry["status"] == "survived":
            m = entry["mutant"]
            change = m["change"].replace("|", "\\|")
            lines.append(f"| {m['module']}:{m['line']} | {m['function']} | `{change}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", help="a file under realtime/, relative to the repo root")
    parser.add_argument("--function", action="append", default=[], help="qualified name; repeat; default all")
    parser.add_argument("--tests", action="append", default=[], help="pytest node ids or files; repeat")
    parser.add_argument("--copy", type=Path, default=Path("/tmp/realtime-mutation"), help="where the copy lives")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant before it counts as killed")
    parser.add_argument("--budget", type=float, default=1800.0, help="stop starting mutants after these seconds")
    parser.add_argument("--out", type=Path, default=Path("mutation-results.jsonl"))
    parser.add_argument("--skip-done", action="store_true", help="skip mutants already in --out")
    parser.add_argument("--line", type=int, action="append", default=[], help="only mutants on this line; repeat")
    parser.add_argument("--retest", type=Path, help="run only the mutants that survived in this results file")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--summary", type=Path, nargs="+", help="print counts and survivors of results files")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(args.summary))
        return 0
    if not args.module or not (args.tests or args.list):
        parser.error("--module and --tests are required")

    mutants = enumerate_mutants(args.module, args.function)
    if args.line:
        mutants = [(m, source) for m, source in mutants if m.line in args.line]
    if args.retest:
        survivors = {key for key, status in _results(args.retest).items() if status == "survived"}
        mutants = [(m, source) for m, source in mutants if _key(asdict(m)) in survivors]
    if args.list:
        for mutant, _ in mutants:
            print(f"{mutant.module}:{mutant.line} {mutant.function} {mutant.operator}: {mutant.change}")
        print(f"{len(mutants)} mutants")
        return 0
    done = set(_results(args.out)) if args.skip_done and args.out.exists() else set()
    if args.copy.exists():
        shutil.rmtree(args.copy)
    args.copy.mkdir(parents=True)
    make_copy(args.copy)
    status, failed = run_tests(args.copy, args.tests, args.timeout)
    if status != "survived":
        raise SystemExit(f"the tests do not pass on the unmutated code ({status}): {failed}")

    target = args.copy / args.module
    original = target.read_text()
    started = time.monotonic()
    counts: dict[str, int] = {}
    try:
        for mutant, source in mutants:
            if _key(asdict(mutant)) in done:
                continue
            if time.monotonic() - started > args.budget:
                print(f"budget of {args.budget:.0f} s used up", flush=True)
                break
            target.write_text(source)
            began = time.monotonic()
            status, failed = run_tests(args.copy, args.tests, args.timeout)
            target.write_text(original)
            outcome = Outcome(mutant, status, round(time.monotonic() - began, 1), failed)
            counts[status] = counts.get(status, 0) + 1
            with args.out.open("a") as out:
                out.write(json.dumps(asdict(outcome)) + "\n")
            print(f"{status:8} {mutant.module}:{mutant.line} {mutant.function}: {mutant.change}", flush=True)
    finally:
        target.write_text(original)
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

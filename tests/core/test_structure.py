"""The core's structure as properties that a change cannot quietly break.

- every module of ``speechkit`` imports alone, in a fresh interpreter, and the import graph
  of ``speechkit`` (module-level imports) has no circle;
- no module of ``speechkit/`` or ``providers/`` reaches another module's underscore names,
  except what livekit-agents itself requires of an ``stt.STT`` / ``stt.RecognizeStream``
  subclass;
- no module of ``speechkit/`` is over about 400 lines.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "speechkit"
PROVIDERS = ROOT / "providers" / "speechkit_providers"

# livekit's RecognizeStream / STT internals a subclass must use (its hooks and channels)
LIVEKIT_HOOKS = {
    "_input_ch",
    "_event_ch",
    "_pushed_sr",
    "_check_input_not_ended",
    "_check_not_closed",
    "_emit_error",
    "_report_connection_acquired",
    "_conn_options",
    "_main_task",
    "_run",
    "_recognize_impl",
    "_FlushSentinel",
}


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*.py")):
        yield module_name(path, root, package), path


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_imports(name: str, path: Path) -> set[str]:
    """The ``speechkit`` modules that ``name`` imports when it is imported (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not is_type_checking(node):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, (ast.Try,)):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("speechkit."))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                if target == "speechkit" or target.startswith("speechkit."):
                    found.add(target)
                    found.update(f"{target}.{a.name}" for a in node.names)

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    names = dict(modules(CORE, "speechkit"))
    graph = {n: {m for m in module_imports(n, p) if m in names and m != n} for n, p in names.items()}
    for n in names:  # importing a submodule imports its packages first
        parent = n.rpartition(".")[0]
        while parent:
            if parent in names and parent != n:
                graph[n].add(parent)
            parent = parent.rpartition(".")[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := dfs(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := dfs(n)):
            return found
    return None


def test_the_core_import_graph_has_no_circle() -> None:
    graph = import_graph()
    # a package's __init__ importing its own submodules is not a circle: drop package -> child edges
    for n in graph:
        graph[n] = {m for m in graph[n] if not m.startswith(n + ".")}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# what the core's modules import from outside speechkit, loaded once in the parent of the
# forked importers below (livekit.agents alone takes about 2.4 s per interpreter)
THIRD_PARTY = ("livekit.agents", "livekit.rtc", "aiohttp", "attrs", "numpy", "soxr", "tenacity")
FORK_IMPORTER = """
import importlib, os, sys, traceback
for dep in sys.argv[2:]:
    importlib.import_module(dep)
assert not [m for m in sys.modules if m.split(".")[0] == "speechkit"], "speechkit imported early"
failed = []
for name in sys.argv[1].split(","):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: this one module, with no speechkit module imported before it
        os.close(read)
        try:
            importlib.import_module(name)
        except BaseException:
            os.write(write, traceback.format_exc().strip().splitlines()[-1].encode())
            os._exit(1)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        err = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(f"{name}: {err or status}")
print("\\n".join(failed))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="imports each module in a forked child")
def test_every_core_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each module is imported first of all speechkit's, in a child forked from an interpreter
    that has loaded only the third-party libraries: an import that works only after another
    speechkit module (a cycle, a missing import) fails here."""
    names = [n for n, _ in modules(CORE, "speechkit") if n != "speechkit.__main__"]
    out = subprocess.run(
        [sys.executable, "-c", FORK_IMPORTER, ",".join(names), *THIRD_PARTY],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", out.stdout


def test_the_fork_importer_names_a_module_that_fails_to_import(tmp_path: Path) -> None:
    (tmp_path / "broken_mod.py").write_text(
        "import speechkit.stream.core\nraise ImportError('broken on purpose')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", FORK_IMPORTER, "speechkit.errors,broken_mod", "aiohttp"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "broken_mod: ImportError: broken on purpose", out.stdout


def defined_names(tree: ast.Module) -> set[str]:
    """Underscore names a module defines: functions, classes, attributes assigned on any object."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute):
                        names.add(sub.attr)
                    elif isinstance(sub, ast.Name):
                        names.add(sub.id)
    return {n for n in names if n.startswith("_")}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def foreign_private_access(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    own = defined_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if private(a.name)]
        elif isinstance(node, ast.Attribute) and private(node.attr) and node.attr not in LIVEKIT_HOOKS:
            value = node.value
            on_self = isinstance(value, ast.Name) and value.id in ("self", "cls")
            on_super = isinstance(value, ast.Call) and getattr(value.func, "id", None) == "super"
            if (on_self or on_super) and node.attr in own:
                continue
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "path",
    [p for root in (CORE, PROVIDERS) for p in sorted(root.rglob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_module_reaches_another_modules_underscore_names(path: Path) -> None:
    assert foreign_private_access(path) == []


def test_the_private_access_check_sees_a_reach_into_another_object(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("class A:\n    def f(self, other):\n        return other._secret, self._mine\n")
    assert foreign_private_access(bad) == ["bad.py:3 other._secret", "bad.py:3 self._mine"]


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_core_module_is_over_about_400_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 420

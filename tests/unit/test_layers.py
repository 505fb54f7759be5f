"""The package's shape: layers that import only downwards, and the light rule of the run path
(armroot.session's docstring)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from armroot.session import COSTLY

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "armroot"
# Top to bottom: a module may import its own layer and the layers below it, never above.
LAYERS = (
    "cli",
    "commands",
    "vm",
    "build",
    "distribute",
    "images",
    "pkg",
    "session",
    "accel",
    "twins",
    "store",
    "sandbox",
    "host",
    "rootfs",
    "",  # armroot.errors, armroot.log, armroot.tuples, armroot itself
)
LIGHT_MARK = "Light (see :mod:`armroot.session`)"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _layer(module: str) -> int:
    if module == "armroot.__main__":
        return LAYERS.index("cli")
    parts = module.split(".")
    top = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""
    return LAYERS.index(top)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every armroot module ``path`` imports, anywhere in it (functions included)."""
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "armroot" or node.module.startswith("armroot."):
                found += [(node.lineno, _target(node.module, a.name)) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("armroot.")]
    return found


def _target(module: str, name: str) -> str:
    """What ``from module import name`` imports: the submodule, if ``name`` is one."""
    return f"{module}.{name}" if f"{module}.{name}" in _modules() else module


def test_no_module_imports_from_a_layer_above_it() -> None:
    modules = _modules()
    upward = []
    for name, path in modules.items():
        for line, imported in _imports(path):
            if _layer(imported) < _layer(name):
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {imported}")
    assert not upward, "\n".join(upward)


def test_every_module_is_in_a_layer() -> None:
    for name in _modules():
        parts = name.split(".")
        if len(parts) > 2:
            assert parts[1] in LAYERS, name


def _light_modules() -> list[str]:
    return [name for name, path in _modules().items() if LIGHT_MARK in path.read_text()]


def test_the_run_path_is_marked_light() -> None:
    light = set(_light_modules())
    run_path = {
        "armroot.cli.launch",
        "armroot.cli.plain",
        "armroot.cli.table",
        "armroot.session.run",
        "armroot.session.cache",
        "armroot.session.inputs",
        "armroot.session.plan",
        "armroot.session.request",
        "armroot.sandbox.execute",
        "armroot.sandbox.apply",
        "armroot.sandbox.ops",
        "armroot.store.home",
        "armroot.store.names",
        "armroot.store.lock",
        "armroot.host.privileges",
        "armroot.host.syscalls",
        "armroot.rootfs.paths",
        "armroot.log",
        "armroot.tuples",
    }
    assert run_path <= light, sorted(run_path - light)


# What a light module may import when it loads, besides other light modules: builtin or
# small modules that import nothing of COSTLY themselves.
LIGHT_STDLIB = frozenset(
    {"__future__", "os", "sys", "fcntl", "marshal", "io", "stat", "errno", "ctypes", "_signal"}
    | {"warnings", "contextvars", "time", "types", "select"}
)


def _load_time_imports(path: Path) -> list[tuple[int, str]]:
    """The modules ``path`` imports when it loads: its top level, less TYPE_CHECKING blocks."""
    found: list[tuple[int, str]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.extend((node.lineno, _target(node.module, a.name)) for a in node.names)
            elif isinstance(node, ast.If):
                test = node.test
                if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                    visit(node.orelse)  # the else branch runs
                else:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(ast.parse(path.read_text()).body)
    return found


@pytest.mark.parametrize("module", _light_modules())
def test_a_light_module_loads_only_light_modules(module: str) -> None:
    light = set(_light_modules()) | {"armroot", "armroot.errors"}
    heavy = []
    for line, imported in _load_time_imports(_modules()[module]):
        if imported.startswith("armroot"):
            ok = imported in light
        else:
            ok = imported.split(".")[0] in LIGHT_STDLIB
        if not ok:
            heavy.append(f"line {line}: {imported}")
    assert not heavy, f"{module}: " + ", ".join(heavy)


def test_the_costly_modules_are_the_ones_named() -> None:
    assert not set(COSTLY) & LIGHT_STDLIB

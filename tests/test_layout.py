"""The package's architecture, checked: layers, no import cycle, small modules.

Every import counts, the ones under `if TYPE_CHECKING:` and inside functions
included: a cycle that exists only for the type checker is still a cycle for
a reader.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pairwise_ws"
MAX_LINES = 500

# What each layer may import of the package (besides itself). Top-level
# modules (config, clock, logs, metrics, tokens) are shared infrastructure.
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "wire": {"domain", "clock"},
    "storage": {"domain", "clock", "tokens"},
    "app": {"domain", "wire", "storage", "config", "clock", "tokens"},
    "live": {"domain", "wire", "storage", "config", "clock", "logs", "metrics", "tokens"},
    "net": {
        "domain",
        "wire",
        "storage",
        "app",
        "live",
        "config",
        "clock",
        "logs",
        "metrics",
        "tokens",
    },
    "cli": {"app", "config", "domain", "wire", "logs", "net"},
    "__main__": {"cli"},
    "clock": set(),
    "tokens": set(),
    "logs": set(),
    "config": {"logs"},
    "metrics": {"domain", "wire"},
}
# Third-party packages a layer must not need.
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "domain": {"trio", "sqlite3", "sqlite_utils", "cattrs", "h11", "wsproto", "click"},
    "wire": {"trio", "sqlite3", "sqlite_utils", "h11", "click"},
    "storage": {"h11", "wsproto", "click", "cattrs"},
    "app": {"trio", "h11", "wsproto", "click", "sqlite3", "sqlite_utils"},
    "live": {"sqlite3", "sqlite_utils", "click", "h11"},
    "cli": {"sqlite3", "sqlite_utils"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> Iterator[str]:
    """Every module `module` imports, absolute, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def package_imports() -> dict[str, set[str]]:
    known = modules()
    return {
        module: {name for name in imports(module, path) if name in known and name != module}
        for module, path in known.items()
    }


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pairwise_ws"


def test_no_module_is_over_500_lines() -> None:
    long = {
        module: n
        for module, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long


def test_there_is_no_import_cycle() -> None:
    graph = package_imports()
    # Depth-first search; a module on the current path seen again closes a cycle.
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if target.startswith(f"{module}."):
                continue  # a package importing its own submodule is not a cycle back
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for module, targets in package_imports().items():
        own = layer(module)
        if own == "pairwise_ws":
            continue  # the package's facade (`serve`, `Config`)
        for target in targets:
            other = layer(target)
            if other not in (own, "pairwise_ws") and other not in ALLOWED[own]:
                wrong.append(f"{module} imports {target}")
    assert not wrong


def test_layers_use_only_their_libraries() -> None:
    wrong = []
    for module, path in modules().items():
        forbidden = FORBIDDEN_LIBRARIES.get(layer(module), set())
        for name in imports(module, path):
            if name.split(".")[0] in forbidden:
                wrong.append(f"{module} imports {name}")
    # The daemon's door to the database is the one storage module on trio.
    assert all(not w.startswith("pairwise_ws.storage.writer imports trio") for w in wrong)
    assert not wrong


def test_the_cli_opens_no_store() -> None:
    for module, targets in package_imports().items():
        if layer(module) == "cli":
            assert not {t for t in targets if layer(t) == "storage"}, module


@pytest.mark.parametrize("entry", ["pairwise_ws.cli", "pairwise_ws"])
def test_setup_commands_do_not_load_the_daemon(entry: str) -> None:
    """`pairwise-ws --help`, `attendee add`: neither trio nor the server is imported."""
    code = (
        f"import sys, {entry}\n"
        "from pairwise_ws.cli import main\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('trio', 'prometheus_client', 'h11', 'wsproto') "
        "or m.startswith(('pairwise_ws.net', 'pairwise_ws.live', 'pairwise_ws.metrics', "
        "'pairwise_ws.storage.writer')))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""

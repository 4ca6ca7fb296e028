"""Every third-party module the code imports comes from a distribution pyproject.toml
declares, pinned to the version installed: nothing works only because another package
happens to pull it in."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ scripts import each other by module name (they run with bench/ on the path)
BENCH_MODULES = {path.stem for path in (ROOT / "bench").glob("*.py")}
FIRST_PARTY = {"api", "ui", "tests", "bench", "rxconfig", *BENCH_MODULES}


def _declared(*groups: str) -> dict[str, str]:
    """Normalised distribution name -> pinned version, for the main dependencies and the
    named optional groups."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in groups:
        requirements += project["optional-dependencies"][group]
    pins = {}
    for requirement in requirements:
        name, version = re.fullmatch(
            r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", requirement
        ).groups()
        pins[_normalise(name)] = version
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported(*folders: str) -> dict[str, Path]:
    """Top-level third-party module -> one file importing it."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        found.setdefault(top, path.relative_to(ROOT))
    return found


def _undeclared(folders: tuple[str, ...], groups: tuple[str, ...]) -> list[str]:
    declared = _declared(*groups)
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, path in sorted(_imported(*folders).items()):
        distributions = {_normalise(d) for d in providers.get(module, [])}
        if not distributions & declared.keys():
            problems.append(f"{module} (imported in {path}; from {sorted(distributions)})")
    return problems


def test_the_application_imports_only_declared_packages():
    assert _undeclared(("api", "ui"), ()) == []


def test_tests_and_benchmarks_import_only_declared_packages():
    assert _undeclared(("api", "ui", "tests", "bench"), ("dev",)) == []


def test_every_pin_is_the_installed_version():
    installed = {name: importlib.metadata.version(name) for name in _declared("dev")}
    assert installed == _declared("dev")

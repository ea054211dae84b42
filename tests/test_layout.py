"""The package's layout holds: every import in it resolves (the lazy ones inside functions too),
imports run one way (the import-linter contract of pyproject.toml), and the package reads nothing
from its checkout."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gaia_audio"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gaia_audio")
                and node.level == 0):
            for alias in node.names:
                yield node.lineno, node.module, alias.name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_every_import_from_the_package_resolves(path):
    for line, module, name in _imports(path):
        imported = importlib.import_module(module)
        assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}") is not None, \
            f"{path.name}:{line}: from {module} import {name}"


def test_the_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed in this environment")
    done = subprocess.run([str(lint), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout[-2000:]


def test_the_package_reads_nothing_from_its_checkout():
    for path in SOURCES:  # recipes and example datasets ship inside the package
        for line in path.read_text(encoding="utf-8").splitlines():
            assert "REPO_ROOT" not in line and not ("__file__" in line and ".parent.parent" in line), f"{path}: {line}"

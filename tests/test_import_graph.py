"""The package layers hold and no module import cycle exists (docs/architecture.md §3).

* `lint-imports` (import-linter, contracts in pyproject.toml) passes on the repo: workers > voice |
  activities > crm > providers > workflows, and the sandbox imports none of our packages.
* The module graph (grimp, import-linter's engine, function-local and TYPE_CHECKING imports included)
  has no cycle: no strongly connected component of more than one module.
* Both checks fail where they must: on throwaway package trees in tmp_path with an upward import, an
  import between siblings, a sandbox import of ours, and a cycle hidden inside a function.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap
import tomllib
import uuid
from pathlib import Path

import grimp
import pytest
from flask import Blueprint

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def importlinter_config(root: Path = REPO) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` from `root` (its pyproject.toml), finding the packages under `root` first."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def describe(graph: grimp.ImportGraph, cycles: list[list[str]]) -> str:
    """Each cycle with the imports inside it (module:line), so the failure says what to move."""
    lines = []
    for members in cycles:
        lines.append(" <-> ".join(members))
        inside = set(members)
        for importer in members:
            for imported in sorted(graph.find_modules_directly_imported_by(importer) & inside):
                where = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                lines.append(f"    {importer} -> {imported} (line {', '.join(map(str, where))})")
    return "\n".join(lines)


def build_graph(packages: list[str]) -> grimp.ImportGraph:
    # No cache: a stale cache could hide a new import; function-local and TYPE_CHECKING imports count.
    return grimp.build_graph(*packages, cache_dir=None, exclude_type_checking_imports=False)


# ---- the repo -------------------------------------------------------------------------------------


def test_the_layer_contracts_hold():
    result = run_lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_cover_every_package_and_the_written_order():
    config = importlinter_config()
    packages = set(config["root_packages"])
    assert packages == {"crm", "workflows", "activities", "workers", "voice", "providers", "sandbox"}
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench"}
    assert on_disk <= packages, f"a package no contract checks: {sorted(on_disk - packages)}"
    layers = next(c for c in config["contracts"] if c["type"] == "layers")
    assert layers["layers"] == ["workers", "voice | activities", "crm", "providers", "workflows"]


def test_no_module_import_cycle():
    graph = build_graph(importlinter_config()["root_packages"])
    cycles = module_cycles(graph)
    assert not cycles, "import cycles between modules:\n" + describe(graph, cycles)


# ---- the checks fail where they must --------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def _layered_tree(root: Path, extra: dict[str, str]) -> None:
    """Our package names with one module each, importing only downwards, plus `extra`; the repo's own
    import-linter configuration."""
    packages = importlinter_config()["root_packages"]
    files = {f"{p}/__init__.py": "" for p in packages}
    files |= {
        "workers/main.py": "import voice.bridge\nimport activities.steps\nimport crm.services\n",
        "voice/bridge.py": "import crm.services\n",
        "activities/steps.py": "from crm import services\n",
        "crm/services.py": "import providers.base\n",
        "providers/base.py": "from workflows import payloads\n",
        "workflows/payloads.py": "import dataclasses\n",
        "sandbox/app.py": "import json\n",
    }
    _tree(root, files | extra)
    (root / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")


def test_a_clean_layered_tree_passes(tmp_path):
    _layered_tree(tmp_path, {})
    result = run_lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        # upward, hidden inside a function as the old crm/cli.py did
        ("crm/tasks.py", "def run():\n    from workers import main\n", "crm.tasks -> workers.main"),
        ("providers/retell.py", "from crm.services import x\n", "providers.retell -> crm.services"),
        ("workflows/chain.py", "import activities.steps\n", "workflows.chain -> activities.steps"),
        # siblings on one layer
        ("voice/booking.py", "import activities.steps\n", "voice.booking -> activities.steps"),
        # the sandbox imports nothing of ours, and nothing but the workers starts it
        ("sandbox/summary.py", "from voice import bridge\n", "sandbox.summary -> voice.bridge"),
        ("crm/demo.py", "import sandbox.app\n", "crm.demo -> sandbox.app"),
    ],
)
def test_an_import_against_the_layers_fails(tmp_path, module, source, named):
    _layered_tree(tmp_path, {module: source})
    result = run_lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert named in result.stdout, result.stdout
    assert "BROKEN" in result.stdout


def test_a_cycle_hidden_in_a_function_is_found(tmp_path, monkeypatch):
    package = f"cyclic_{uuid.uuid4().hex[:8]}"  # a fresh name: grimp finds packages through sys.path
    _tree(
        tmp_path,
        {
            f"{package}/__init__.py": "",
            f"{package}/settings.py": f"from {package} import scoring\n",
            f"{package}/scoring.py": f"def weight():\n    from {package}.settings import x\n",
            f"{package}/compliance.py": f"from {package} import scoring\n",
            f"{package}/gate.py": f"import {package}.rules\n",
            f"{package}/rules.py": "",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = build_graph([package])
    cycles = module_cycles(graph)
    assert cycles == [[f"{package}.scoring", f"{package}.settings"]]
    assert f"{package}.scoring -> {package}.settings (line 2)" in describe(graph, cycles)


def test_a_tree_without_cycles_gives_none(tmp_path, monkeypatch):
    package = f"acyclic_{uuid.uuid4().hex[:8]}"
    _tree(
        tmp_path,
        {
            f"{package}/__init__.py": "",
            f"{package}/a.py": f"from {package} import b, c\n",
            f"{package}/b.py": f"def f():\n    from {package} import c\n",
            f"{package}/c.py": "",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_cycles(build_graph([package])) == []


# ---- explicit lists instead of discovery ----------------------------------------------------------


def _modules_of(package) -> list:
    return [
        importlib.import_module(f"{package.__name__}.{info.name}") for info in pkgutil.iter_modules(package.__path__)
    ]


def test_no_module_is_loaded_by_name_at_run_time():
    """Blueprints and sandbox providers are imported by name in the code, so a missing one
    is an ImportError at start-up; nothing is discovered with importlib or pkgutil and skipped."""
    offenders = []
    for package in importlinter_config()["root_packages"]:
        for path in sorted((REPO / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for needle in ("import_module(", "pkgutil", "__import__("):
                if needle in text:
                    offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert not offenders, offenders


def test_every_blueprint_and_sandbox_provider_is_listed():
    """A module added beside the others must be added to its list too (or the app would lack it)."""
    import crm.ui
    import sandbox
    import sandbox.app

    ui_areas = {m.__name__ for m in _modules_of(crm.ui) if isinstance(getattr(m, "bp", None), Blueprint)}
    assert ui_areas == {m.__name__ for m in crm.ui.areas()}

    providers = {m.__name__ for m in _modules_of(sandbox) if hasattr(m, "blueprint")}
    listed = {**sandbox.app.PROVIDERS, **sandbox.app.CALENDARS}
    assert providers == {m.__name__ for m in listed.values()}


def test_the_app_registers_every_blueprint_there_is():
    import crm.api
    import crm.email
    import crm.ui
    import crm.webhooks
    from crm import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, "SECRET_KEY": "x" * 32})
    modules = [m for package in (crm.api, crm.email, crm.ui, crm.webhooks) for m in _modules_of(package)]
    blueprints = {m.bp.name for m in modules if isinstance(getattr(m, "bp", None), Blueprint)}
    assert {"leads", "retell", "vapi", "bland", "sendgrid"} <= {m.__name__.rsplit(".", 1)[-1] for m in modules}
    assert blueprints - set(app.blueprints) == set()


def test_no_module_imports_another_modules_private_names():
    """A leading underscore means "this module's own": another module needing it gets a public name."""
    offenders = []
    packages = set(importlinter_config()["root_packages"])
    for package in sorted(packages):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in packages:
                    # `_` alone is gettext (crm.ui.i18n exports it by that conventional name).
                    private = [a.name for a in node.names if a.name.startswith("_") and a.name not in ("_",)]
                    private = [name for name in private if not name.startswith("__")]
                    if private:
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.module}: {private}")
    assert not offenders, offenders

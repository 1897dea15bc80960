"""The house follows the layers: imports are read from the source (ast), nothing is imported.

- No import cycle among first-party modules at load time (module-level imports, `if
  TYPE_CHECKING:` blocks left out): a cycle makes the import order matter.
- No two apps import each other at load time (issue 10, item 9).
- The cycles issue 10 names are gone for good, counting the imports made when called too:
  evidence <-> sync (sync listens on evidence's hooks), acceptance <-> signatures (acceptance
  registers a Signable), photos <-> tasks (photos defer the job by name), and cases' services do
  not import events (events registers an item-status listener).
- No `except ImportError` around an import of a first-party module: apps are installed or not,
  and a broken import must fail loudly.
"""

import ast
import collections
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backend", "mobile_api", "gis_layers", "field_client")
SKIPPED_DIRECTORIES = {"tests", "migrations"}
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if SKIPPED_DIRECTORIES & set(parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    at_load_time: bool
    guarded: bool  # inside a `try` that catches ImportError


def _resolve(name: str) -> str | None:
    """The first-party module a dotted name falls in (a module, or a name inside one)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (isinstance(name, ast.Name) and name.id in IMPORT_ERRORS)
        or (isinstance(name, ast.Attribute) and name.attr in IMPORT_ERRORS)
        for name in names
        if name is not None
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if target := _resolve(alias.name):
                yield target
        return
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, node.module] if node.module else package)
    else:
        base = node.module or ""
    for alias in node.names:
        if target := _resolve(f"{base}.{alias.name}") or _resolve(base):
            yield target


def _imports_of(module: str, path: Path, text: str | None = None) -> Iterator[Import]:
    def walk(nodes: list[ast.stmt], *, at_load_time: bool, guarded: bool) -> Iterator[Import]:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, path):
                    if target != module:
                        yield Import(module, target, node.lineno, at_load_time, guarded)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(node.body, at_load_time=False, guarded=guarded)
            elif isinstance(node, ast.Try | ast.TryStar):
                catches = any(_catches_import_error(handler) for handler in node.handlers)
                yield from walk(node.body, at_load_time=at_load_time, guarded=guarded or catches)
                for handler in node.handlers:
                    yield from walk(handler.body, at_load_time=at_load_time, guarded=guarded)
                yield from walk(node.orelse, at_load_time=at_load_time, guarded=guarded)
                yield from walk(node.finalbody, at_load_time=at_load_time, guarded=guarded)
            else:
                # Class bodies, `if`, `with`, `for` …: run when the enclosing code runs.
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        yield from walk(
                            [c for c in children if isinstance(c, ast.stmt)], at_load_time=at_load_time, guarded=guarded
                        )
                for case in getattr(node, "cases", []) or []:
                    yield from walk(case.body, at_load_time=at_load_time, guarded=guarded)

    source = path.read_text() if text is None else text
    yield from walk(ast.parse(source, str(path)).body, at_load_time=True, guarded=False)


IMPORTS = [found for module, path in MODULES.items() for found in _imports_of(module, path)]


def app_of(module: str) -> str:
    """`backend.<app>` for the domain (the field-record kernel is backend.records), the
    top-level package otherwise."""
    parts = module.split(".")
    if parts[0] != "backend" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return components


def _edges(*, at_load_time_only: bool, by_app: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for found in IMPORTS:
        if at_load_time_only and not found.at_load_time:
            continue
        source, target = (app_of(found.source), app_of(found.target)) if by_app else (found.source, found.target)
        if source != target:
            edges[source].add(target)
    return edges


def _explain(component: list[str], *, by_app: bool, at_load_time_only: bool) -> list[str]:
    members = set(component)
    return sorted(
        f"{found.source}:{found.line} -> {found.target}"
        for found in IMPORTS
        if (found.at_load_time or not at_load_time_only)
        and (app_of(found.source) if by_app else found.source) in members
        and (app_of(found.target) if by_app else found.target) in members
        and (app_of(found.source) != app_of(found.target) if by_app else True)
    )


def test_the_parser_sees_the_imports_it_must():
    # A positive control: a test that finds nothing because it reads nothing would pass too.
    assert len(MODULES) > 200
    assert any(f.source == "backend.sync.selectors" and f.target == "backend.cases.selectors" for f in IMPORTS)
    assert any(f.source == "backend.sync.apps" and f.target == "backend.evidence.blobs" for f in IMPORTS)
    assert not any(f.at_load_time for f in IMPORTS if f.source == "backend.sync.apps")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back_at_load_time():
    cycles = _cycles(_edges(at_load_time_only=True, by_app=False))
    assert [_explain(c, by_app=False, at_load_time_only=True) for c in cycles] == []


def test_no_two_apps_import_each_other_at_load_time():
    cycles = _cycles(_edges(at_load_time_only=True, by_app=True))
    assert [_explain(c, by_app=True, at_load_time_only=True) for c in cycles] == []


def _between(first: str, second: str, *, at_load_time_only: bool = False) -> list[str]:
    def inside(module: str, prefix: str) -> bool:
        return module == prefix or module.startswith(prefix + ".")

    return sorted(
        f"{f.source}:{f.line} -> {f.target}"
        for f in IMPORTS
        if (f.at_load_time or not at_load_time_only)
        and (
            (inside(f.source, first) and inside(f.target, second))
            or (inside(f.source, second) and inside(f.target, first))
        )
    )


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("backend.evidence", "backend.sync"),
        ("backend.signatures", "backend.acceptance"),
        ("backend.evidence.photos", "backend.evidence.tasks"),
    ],
)
def test_the_named_cycles_are_gone_counting_imports_made_when_called(lower, upper):
    imports = _between(lower, upper)
    assert imports, "a positive control: the upper layer does use the lower one"
    assert [line for line in imports if line.startswith(lower)] == []


def test_the_record_kernel_imports_no_app_above_it_even_when_called():
    # Cases' material scans are field records: the kernel names the case model by label and
    # reaches cases' visibility rule through the selector cases registers when ready.
    below = {app_of(f.target) for f in IMPORTS if app_of(f.source) == "backend.records"} - {"backend.records"}
    assert below == {"backend.accounts", "backend.audit", "backend.common"}
    assert any(f.source == "backend.cases.materials" and app_of(f.target) == "backend.records" for f in IMPORTS)
    assert any(f.source == "backend.cases.apps" and f.target == "backend.records.registry" for f in IMPORTS)
    # backend.common keeps what every app needs, and nothing of the kernel.
    assert [m for m in MODULES if m.split(".")[:2] == ["backend", "common"] and "record" in m] == []
    assert [
        f"{f.source}:{f.line}"
        for f in IMPORTS
        if f.source.startswith("backend.common") and app_of(f.target) == "backend.records"
    ] == []


def test_cases_services_reach_events_through_a_listener():
    assert [
        f"{f.source}:{f.line}"
        for f in IMPORTS
        if f.source == "backend.cases.services" and app_of(f.target) == "backend.events"
    ] == []
    assert any(f.source == "backend.events.apps" and f.target == "backend.cases.services" for f in IMPORTS)


GUARDED = sorted({f.source for f in IMPORTS if f.guarded})


def test_the_guard_detector_sees_a_guard():
    source = (
        "try:\n    from backend.evidence.models import Blob\nexcept (ValueError, ImportError):\n    Blob = None\n"
        "def f():\n    try:\n        import backend.evidence.photos\n    except ModuleNotFoundError:\n        pass\n"
        "import backend.cases.models\n"
    )
    found = list(_imports_of("backend.sync.selectors", MODULES["backend.sync.selectors"], source))
    assert [(f.target, f.at_load_time, f.guarded) for f in found] == [
        ("backend.evidence.models", True, True),
        ("backend.evidence.photos", False, True),
        ("backend.cases.models", True, False),
    ]


@pytest.mark.parametrize(
    "module",
    sorted(set(GUARDED) | {"backend.sync.selectors", "backend.sync.services"}),
)
def test_no_except_import_error_around_a_first_party_import(module):
    assert [f"{f.source}:{f.line} -> {f.target}" for f in IMPORTS if f.source == module and f.guarded] == []

"""Move the field-record kernel out of backend/common into its own app, backend/records (issue 10, item 9).

Idempotent: run it on a tree where the move was made and nothing changes; run it on a merged tree
where other branches edited backend/common/records.py or added imports of it, and it moves those too.

    .venv/bin/python scripts/dev/kernel_move.py [--dry-run]

What it does, in order:
1. `git mv` backend/common/records.py -> backend/records/services.py, backend/common/timeline.py ->
   backend/records/timeline.py, backend/common/tests/test_records_core.py -> backend/records/tests/.
2. Renames, repo-wide (whole words, .py and .md): the three "locks" get words of their own.
     record_lock             -> record_sign_off            (the seal of a signed-off record: is_locked)
     record_lock_for_update  -> record_select_for_update   (the row lock, SELECT ... FOR UPDATE)
     transaction_lock        -> advisory_transaction_lock  (the named pg_advisory_xact_lock)
   and the private helpers built on them. Model fields (`is_locked`, `locked_at`), the API code
   `record_locked` and the audit action "lock" keep their names: clients and stored entries use them.
3. Splits backend/records/services.py by top-level name: the abstract model into models.py, the
   registry (record types and the hooks apps register) into registry.py; the rest stays in services.py.
   Each piece keeps the imports it uses; unknown new names stay in services.py.
4. Rewrites every `from backend.common.records import ...` (and `from backend.common import records`,
   `backend.common.timeline`) to the module that now defines each name, and the dotted paths in
   comments and docs.
5. Writes the app's own files (apps.py, __init__.py), adds it to INSTALLED_APPS, and edits the
   layering test (the kernel is an app of its own now, no special case).
6. `ruff check --select I,F401 --fix` and `ruff format` on the files it touched, then reports names
   it could not place (`ruff --select F821`).
"""

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
RUFF = ROOT / ".venv" / "bin" / "ruff"

OLD_KERNEL = ROOT / "backend/common/records.py"
OLD_TIMELINE = ROOT / "backend/common/timeline.py"
OLD_KERNEL_TEST = ROOT / "backend/common/tests/test_records_core.py"
APP = ROOT / "backend/records"
SERVICES = APP / "services.py"
MODELS = APP / "models.py"
REGISTRY = APP / "registry.py"
TIMELINE = APP / "timeline.py"
KERNEL_TEST = APP / "tests/test_records_core.py"

SEARCHED = ("backend", "mobile_api", "gis_layers", "field_client", "tests", "bench", "scripts", "deploy")
SEARCHED_FILES = ("conftest.py", "manage.py", "README.md")

RENAMES = {
    "record_lock_for_update": "record_select_for_update",
    "record_lock": "record_sign_off",
    "transaction_lock": "advisory_transaction_lock",
    "_lock_meeting": "_select_editable_meeting_for_update",
    "_lock_survey_for_participants": "_select_survey_for_participant_change",
    "_lock_key": "_drain_advisory_lock_key",
    # The kernel's own helper, now read by two of its modules: no longer private.
    "_record_type_name": "record_type_name_for_model",
}

MODEL_NAMES = {"SYSTEM_FIELDS", "LiveRecordManager", "FieldRecord"}
REGISTRY_NAMES = {
    "CreateService",
    "UpdateService",
    "DeleteService",
    "SERVICE_KEYWORDS",
    "RecordType",
    "RECORD_TYPES",
    "_check_service",
    "register_record_type",
    "naming_the_record",
    "record_type_of",
    "record_type_name_for_model",
    "RecordChangeListener",
    "RECORD_CHANGE_LISTENERS",
    "register_record_change_listener",
    "REOPEN_LISTENERS",
    "CASES_VISIBLE_TO",
    "register_cases_visible_to",
    "record_cases_visible_to",
}

MODELS_DOC = '''"""The field record every record app subclasses: client UUIDs, versions, the sign-off seal
(`is_locked`), tombstones and per-field versions. Abstract: the kernel has no table of its own."""
'''
REGISTRY_DOC = '''"""The record types and the hooks the record apps register when they are ready.

Every entry point (REST, sync push, the admin, imports) reaches a record type's services through
`RECORD_TYPES`; the kernel's services call the listeners, so the kernel imports no app above it.
"""
'''
APPS_PY = '''from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """The field-record kernel: abstract models, the record-type registry and the record services."""

    name = "backend.records"
    label = "records"
'''
INIT_PY = '"""The field-record kernel (issue 10, item 9): what every field record shares."""\n'

# Made to the kernel's one module before it is split (the split puts the new names in the registry).
PRE_SPLIT_EDITS = [
    (
        # The kernel read cases' selector when called, and cases' material scans are field records:
        # cases registers its visibility rule with the kernel instead (no cycle even when called).
        "    if user is None:\n"
        "        return\n"
        "    from backend.cases.selectors import cases_visible_to\n"
        "\n"
        "    if not cases_visible_to(user=user).filter(pk=case.pk).exists():\n",
        "    if user is None:\n"
        "        return\n"
        "    if not record_cases_visible_to(user=user).filter(pk=case.pk).exists():\n",
    ),
    (
        "REOPEN_LISTENERS: list[Callable[[FieldRecord], None]] = []\n",
        "REOPEN_LISTENERS: list[Callable[[FieldRecord], None]] = []\n"
        "\n"
        "# The cases a user may see, by cases' own rule (`cases_visible_to`, registered when cases is\n"
        "# ready): the kernel checks the case of every write with it. Cases' material scans are field\n"
        "# records, so the kernel imports nothing of cases, even when called.\n"
        "CASES_VISIBLE_TO: list[Callable[..., QuerySet]] = []\n"
        "\n"
        "\n"
        "def register_cases_visible_to(selector: Callable[..., QuerySet]) -> None:\n"
        "    CASES_VISIBLE_TO[:] = [selector]\n"
        "\n"
        "\n"
        "def record_cases_visible_to(*, user: Any) -> QuerySet:\n"
        "    if not CASES_VISIBLE_TO:\n"
        '        raise ImproperlyConfigured("No case selector: backend.cases registers cases_visible_to when ready.")\n'
        "    return CASES_VISIBLE_TO[0](user=user)\n",
    ),
]

# (file, old, new): exact edits; skipped quietly once `new` is there, reported when neither is.
EXACT_EDITS = [
    (
        SERVICES,
        "What every field record shares: client UUIDs, versions, locks, tombstones and the audit trail.",
        "What every field record shares: client UUIDs, versions, sign-off seals, tombstones and the audit trail.",
    ),
    (
        SERVICES,
        '"""Lock a record (it was signed off); `changes` (e.g. a status) are applied in the same version."""',
        '"""Seal a signed-off record (`is_locked`: update, delete and transitions refuse it until it is\n'
        '    reopened); `changes` (e.g. a status) are applied in the same version. Audited as "lock"."""',
    ),
    (
        ROOT / "tests/test_layering.py",
        '    """`backend.<app>` for the domain, the top-level package otherwise. The field-record kernel\n'
        '    (backend.common.records, to become backend/records) is a layer of its own."""\n'
        '    parts = module.split(".")\n'
        '    if parts[0] != "backend" or len(parts) == 1:\n'
        "        return parts[0]\n"
        '    if parts[1] == "common" and len(parts) > 2 and parts[2] == "records":\n'
        '        return "backend.records"\n',
        '    """`backend.<app>` for the domain (the field-record kernel is backend.records), the\n'
        '    top-level package otherwise."""\n'
        '    parts = module.split(".")\n'
        '    if parts[0] != "backend" or len(parts) == 1:\n'
        "        return parts[0]\n",
    ),
    (
        ROOT / "tests/test_layering.py",
        '"still cycling at load time, outside this branch: backend.common.timeline imports cases "\n'
        '        "and the record kernel (common keeps only errors, geometry, health); ',
        '"still cycling at load time, outside this branch: ',
    ),
    (
        ROOT / "backend/cases/apps.py",
        '    default_auto_field = "django.db.models.BigAutoField"\n',
        '    default_auto_field = "django.db.models.BigAutoField"\n'
        "\n"
        "    def ready(self) -> None:\n"
        "        # The record kernel checks the case of every write against who may see it; it cannot\n"
        "        # import cases (material scans are field records), so cases hands it the rule.\n"
        "        from backend.cases.selectors import cases_visible_to\n"
        "        from backend.records.registry import register_cases_visible_to\n"
        "\n"
        "        register_cases_visible_to(cases_visible_to)\n",
    ),
    (
        ROOT / "tests/test_layering.py",
        "def test_cases_services_reach_events_through_a_listener():\n",
        "def test_the_record_kernel_imports_no_app_above_it_even_when_called():\n"
        "    # Cases' material scans are field records: the kernel names the case model by label and\n"
        "    # reaches cases' visibility rule through the selector cases registers when ready.\n"
        '    below = {app_of(f.target) for f in IMPORTS if app_of(f.source) == "backend.records"} - {"backend.records"}\n'
        '    assert below == {"backend.accounts", "backend.audit", "backend.common"}\n'
        '    assert any(f.source == "backend.cases.materials" and app_of(f.target) == "backend.records" for f in IMPORTS)\n'
        '    assert any(f.source == "backend.cases.apps" and f.target == "backend.records.registry" for f in IMPORTS)\n'
        "    # backend.common keeps what every app needs, and nothing of the kernel.\n"
        '    assert [m for m in MODULES if m.split(".")[:2] == ["backend", "common"] and "record" in m] == []\n'
        "    assert [\n"
        '        f"{f.source}:{f.line}"\n'
        "        for f in IMPORTS\n"
        '        if f.source.startswith("backend.common") and app_of(f.target) == "backend.records"\n'
        "    ] == []\n"
        "\n"
        "\n"
        "def test_cases_services_reach_events_through_a_listener():\n",
    ),
    (
        ROOT / "backend/settings.py",
        '    "backend.common",\n    "backend.accounts",\n',
        '    "backend.common",\n    "backend.records",\n    "backend.accounts",\n',
    ),
]

TOUCHED: set[Path] = set()
PROBLEMS: list[str] = []
DRY_RUN = False


def log(message: str) -> None:
    print(message)


def write(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    log(f"  write {path.relative_to(ROOT)}")
    TOUCHED.add(path)
    if not DRY_RUN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def git_mv(source: Path, target: Path) -> None:
    if not source.exists():
        return
    if target.exists():
        PROBLEMS.append(f"both {source.relative_to(ROOT)} and {target.relative_to(ROOT)} exist: merge them by hand")
        return
    log(f"  git mv {source.relative_to(ROOT)} {target.relative_to(ROOT)}")
    TOUCHED.add(target)
    if not DRY_RUN:
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", str(source), str(target)], cwd=ROOT, check=True)


def searched_files(suffixes: tuple[str, ...] = (".py", ".md")) -> list[Path]:
    files = [ROOT / name for name in SEARCHED_FILES if (ROOT / name).exists()]
    for directory in SEARCHED:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.is_file() and path.suffix in suffixes and path.resolve() != THIS and ".venv" not in path.parts:
                files.append(path)
    return [f for f in files if f.suffix in suffixes]


# --- 2. renames ----------------------------------------------------------------------------


def rename_everywhere() -> None:
    patterns = [(re.compile(rf"\b{re.escape(old)}\b"), new) for old, new in RENAMES.items()]
    for path in searched_files():
        text = path.read_text()
        new_text = text
        for pattern, new in patterns:
            new_text = pattern.sub(new, new_text)
        write(path, new_text)


# --- 3. split ------------------------------------------------------------------------------


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _is_header(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
        return True
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _used(name: str, body: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}\b", body) is not None


def _imports_for(header: list[ast.stmt], lines: list[str], body: str, own: list[str] = ()) -> str:
    """The header's imports that `body` uses (ruff removes the ones a docstring's words kept)."""
    out = []
    blocks = [node for node in header if isinstance(node, ast.If)]
    if any(_imports_for(block.body, lines, body).strip() for block in blocks):
        body += "\nTYPE_CHECKING\n"
    for node in sorted(header, key=lambda node: isinstance(node, ast.If)):
        if isinstance(node, ast.If) and own:
            out.extend(own)
            own = []
        if isinstance(node, ast.Import):
            names = [a for a in node.names if _used(a.asname or a.name.split(".")[0], body)]
            if names:
                out.append("import " + ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in names))
        elif isinstance(node, ast.ImportFrom):
            names = [a for a in node.names if _used(a.asname or a.name, body)]
            if names:
                listed = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in names)
                out.append(f"from {'.' * node.level}{node.module or ''} import {listed}")
        elif isinstance(node, ast.If):
            inner = _imports_for(node.body, lines, body)
            if inner.strip():
                comment = lines[node.lineno - 1].partition("#")[2].strip()
                head = "if TYPE_CHECKING:" + (f"  # {comment}" if comment else "")
                out.append(head + "\n" + "\n".join("    " + line for line in inner.strip().splitlines()))
    out.extend(own)
    return "\n".join(out) + "\n" if out else ""


SECTION = re.compile(r"^# --- .* -{3,}\n", re.MULTILINE)


def split_services() -> None:
    if not SERVICES.exists():
        return
    text = SERVICES.read_text()
    if "class FieldRecord(" not in text:
        return  # split already
    for old, new in PRE_SPLIT_EDITS:
        if old in text and not (old in new and new in text):
            text = text.replace(old, new, 1)
        elif new not in text:
            PROBLEMS.append(f"{SERVICES.relative_to(ROOT)}: neither the old nor the new text of {old[:60]!r}…")
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    header = []
    for node in tree.body:
        if not _is_header(node):
            break
        header.append(node)
    docstring = ast.get_docstring(tree, clean=False)
    segments: dict[str, list[str]] = {"models": [], "registry": [], "services": []}
    previous_end = header[-1].end_lineno if header else 0
    for node in tree.body[len(header) :]:
        segment = "".join(lines[previous_end : node.end_lineno])
        previous_end = node.end_lineno
        names = _defined_names(node)
        if names and all(n in MODEL_NAMES for n in names):
            segments["models"].append(SECTION.sub("", segment))
        elif names and all(n in REGISTRY_NAMES for n in names):
            segments["registry"].append(SECTION.sub("", segment))
        else:
            segments["services"].append(segment)
    if not segments["models"] and not segments["registry"]:
        return  # split already
    defined = {
        "models": {n for node in ast.parse("".join(segments["models"])).body for n in _defined_names(node)},
        "registry": {n for node in ast.parse("".join(segments["registry"])).body for n in _defined_names(node)},
    }
    for module in ("models", "registry", "services"):
        body = "".join(segments[module]).strip("\n") + "\n"
        # A section marker left with nothing under it.
        body = re.sub(r"# --- .* -{3,}\n+(?=# --- |\Z)", "", body)
        own = []
        for other in ("models", "registry"):
            if other == module or (module == "models" and other == "registry"):
                continue
            used = sorted(n for n in defined[other] if _used(n, body))
            if used:
                own.append(f"from backend.records.{other} import {', '.join(used)}")
        if module == "models":
            doc = MODELS_DOC
        elif module == "registry":
            doc = REGISTRY_DOC
        else:
            doc = f'"""{docstring}"""\n' if docstring else ""
        imports = _imports_for(header, lines, body, own)
        write(APP / f"{module}.py", f"{doc}\n{imports}\n\n{body}")


# --- 4. imports and dotted paths ------------------------------------------------------------


def name_modules() -> dict[str, str]:
    where = {}
    for module in ("services", "registry", "models"):
        path = APP / f"{module}.py"
        if path.exists():
            for node in ast.parse(path.read_text()).body:
                for name in _defined_names(node):
                    where.setdefault(name, module)
    return where


FROM_KERNEL = re.compile(r"^(?P<indent>[ \t]*)from backend\.common\.records import (?P<names>\([^)]*\)|[^\n]*)$", re.M)
KERNEL_MODULE = re.compile(r"^(?P<indent>[ \t]*)from backend\.common import records\n", re.M)


def rewrite_imports() -> None:
    where = name_modules()

    def module_of(name: str, path: Path) -> str:
        if name not in where:
            PROBLEMS.append(f"{path.relative_to(ROOT)} imports {name}, which no kernel module defines")
        return where.get(name, "services")

    for path in searched_files((".py",)):
        text = path.read_text()

        def split_import(match: re.Match, path: Path = path) -> str:
            indent = match["indent"]
            names = [n.strip() for n in match["names"].strip("()").replace("\n", " ").split(",") if n.strip()]
            by_module: dict[str, list[str]] = {}
            for name in names:
                by_module.setdefault(module_of(name.split(" as ")[0].strip(), path), []).append(name)
            return "\n".join(
                f"{indent}from backend.records.{module} import {', '.join(listed)}"
                for module, listed in sorted(by_module.items())
            )

        new_text = FROM_KERNEL.sub(split_import, text)
        match = KERNEL_MODULE.search(new_text)
        if match:
            # `records.NAME`: import the modules that define the names used, and name them.
            used = sorted(set(re.findall(r"(?<![\w.])records\.(\w+)", new_text)))
            modules = sorted({module_of(n, path) for n in used})
            new_text = KERNEL_MODULE.sub(
                "".join(f"{match['indent']}from backend.records import {m}\n" for m in modules), new_text
            )
            for name in used:
                new_text = re.sub(rf"(?<![\w.])records\.{name}\b", f"{module_of(name, path)}.{name}", new_text)
        new_text = new_text.replace("from backend.common.timeline import", "from backend.records.timeline import")
        write(path, new_text)

    for path in searched_files():
        text = path.read_text()
        new_text = re.sub(
            r"backend\.common\.records\.(\w+)",
            lambda m: f"backend.records.{where.get(m[1], 'services')}.{m[1]}",
            text,
        )
        new_text = new_text.replace("backend.common.records", "backend.records")
        new_text = new_text.replace("backend/common/records.py", "backend/records/")
        new_text = new_text.replace("backend.common.timeline", "backend.records.timeline")
        new_text = new_text.replace("backend/common/timeline.py", "backend/records/timeline.py")
        write(path, new_text)


# --- 5. the app's own files and exact edits ----------------------------------------------------


def app_files() -> None:
    if not (APP / "__init__.py").exists():
        write(APP / "__init__.py", INIT_PY)
    if not (APP / "apps.py").exists():
        write(APP / "apps.py", APPS_PY)
    if KERNEL_TEST.exists() and not (KERNEL_TEST.parent / "__init__.py").exists():
        write(KERNEL_TEST.parent / "__init__.py", "")


def exact_edits() -> None:
    for path, old, new in EXACT_EDITS:
        if not path.exists():
            PROBLEMS.append(f"{path.relative_to(ROOT)} is missing (edit {old[:40]!r}…)")
            continue
        text = path.read_text()
        if old in text and not (old in new and new in text):
            write(path, text.replace(old, new, 1))
        elif new not in text:
            PROBLEMS.append(f"{path.relative_to(ROOT)}: neither the old nor the new text of {old[:60]!r}…")


def timeline_names_cases_by_type_only() -> None:
    """The timeline reads `case.pk` only: cases' models for the annotation alone, so the kernel
    imports nothing of cases at load time (cases' material scans are field records)."""
    if not TIMELINE.exists():
        return
    text = TIMELINE.read_text()
    if "TYPE_CHECKING" in text:
        return
    line = "from backend.cases.models import ApprovalCase\n"
    if line not in text or "from typing import Any\n" not in text:
        PROBLEMS.append(f"{TIMELINE.relative_to(ROOT)}: its imports changed; name ApprovalCase by hand")
        return
    text = text.replace(line, "").replace("from typing import Any\n", "from typing import TYPE_CHECKING, Any\n")
    imports_end = max(m.end() for m in re.finditer(r"^(from|import) [^\n]*\n", text, re.M))
    text = (
        text[:imports_end]
        + "\nif TYPE_CHECKING:  # cases' own records (material scans) import the kernel\n    "
        + line
        + text[imports_end:]
    )
    text = re.sub(r"\bcase: ApprovalCase\b", 'case: "ApprovalCase"', text)
    write(TIMELINE, text)


# --- 6. lint -------------------------------------------------------------------------------------


def lint() -> None:
    python = sorted(str(p) for p in TOUCHED if p.suffix == ".py" and p.exists())
    if not python or DRY_RUN:
        return
    new_modules = [str(p) for p in (MODELS, REGISTRY, SERVICES, TIMELINE) if p.exists()]
    subprocess.run([str(RUFF), "check", "-q", "--select", "F401", "--fix", *new_modules], cwd=ROOT, check=False)
    subprocess.run([str(RUFF), "check", "-q", "--select", "I", "--fix", *python], cwd=ROOT, check=False)
    subprocess.run([str(RUFF), "format", "-q", *python], cwd=ROOT, check=False)
    result = subprocess.run(
        [str(RUFF), "check", "--select", "F821,F401,F811", "--output-format", "concise", *python],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        PROBLEMS.append("ruff found names to place by hand:\n" + result.stdout)


def main() -> int:
    global DRY_RUN
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    DRY_RUN = parser.parse_args().dry_run

    log("1. move")
    git_mv(OLD_KERNEL, SERVICES)
    git_mv(OLD_TIMELINE, TIMELINE)
    git_mv(OLD_KERNEL_TEST, KERNEL_TEST)
    if DRY_RUN and OLD_KERNEL.exists():
        log("  (dry run: the rest needs the move made)")
        return 0
    log("2. renames")
    rename_everywhere()
    log("3. split the kernel")
    split_services()
    log("4. exact edits")
    exact_edits()
    log("5. imports")
    rewrite_imports()
    log("6. app files")
    app_files()
    timeline_names_cases_by_type_only()
    log("7. lint")
    lint()
    log(f"{len(TOUCHED)} files written")
    for problem in PROBLEMS:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())

"""The package's layout holds: public import paths that moved still answer, and data flows one way.

Issue 30 split modules that had grown several jobs; these tests keep the old import paths alive
for sites that use them, and read the source (with ``ast``, importing nothing) to keep the
import graph the way DESIGN.md draws it: no circle inside a package, and no arrow from the
writers (``services/``) to the readers (``sync/``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import realtimekit_django

PACKAGE = Path(realtimekit_django.__file__).parent

# Every top-level name realtimekit_django/schema.py defined before it became a package.
SCHEMA_NAMES = """
__all__ SUMMARY_TYPES TEXT_FORMATS TRANSCRIPTION_LANGUAGES AUDIO_CHANNELS AUDIO_CODECS VIDEO_CODECS
WATERMARK_POSITIONS STORAGE_TYPES STORAGE_AUTH_METHODS MEETING_STATUSES MEETING_BOOLEAN_FIELDS
MEETING_WRITABLE_FIELDS MEETING_READ_ONLY_FIELDS PARTICIPANT_READ_ONLY_FIELDS STORAGE_WRITE_ONLY_KEYS
BOUNDS _START_BOUNDS MAX_STRING_LENGTH MAX_KEYWORDS MAX_PER_PAGE MEETING_MODES PARTICIPANT_MODES Errors
_join MAX_DEPTH MAX_MAGNITUDE STORABLE_YEARS _POSTGRESQL_OFFSET_LIMIT _UNSTORABLE_CHAR unstorable _walk
_key_problem _scalar_problem storable_datetime_problem _utc_problem _Spec _Bool _Str _Enum _Number _Url
_is_absolute_url _StrList _Refused _Object _AI_CONFIG _RECORDING_CONFIG _meeting_spec _MEETING_SPECS
_PARTICIPANT_COMMON _PARTICIPANT_SPECS _validate _poison_not_yet_reported _at_or_under validate_meeting
validate_participant validate_listing_params _as_datetime strip_write_only _plain_copy _without_secrets
PRESET_MODES PRESET_PARTS RECORDING_STATUSES RECORDING_ACTIVE_STATUSES RECORDING_ACTIONS
RECORDING_URL_KEYS MAX_KICK _AnyObject _preset_spec _PRESET_SPECS _RECORDING_START _IdList _KICK
validate_preset validate_recording_start validate_recording_action validate_kick
validate_recording_listing strip_recording_urls
""".split()


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_names_are_still_importable_from_the_package(name):
    schema = importlib.import_module("realtimekit_django.schema")
    assert hasattr(schema, name), f"realtimekit_django.schema.{name} is gone"


def test_schema_public_names_are_the_same_objects_as_in_their_modules():
    from realtimekit_django import schema
    from realtimekit_django.schema import fields, meetings, poison

    assert schema.validate_meeting is meetings.validate_meeting
    assert schema.unstorable is poison.unstorable
    assert schema._Object is fields._Object
    for name in schema.__all__:
        assert hasattr(schema, name)


def test_schema_machinery_knows_no_resource():
    """fields.py and poison.py import no resource module of the schema package."""
    graph = import_graph("schema")
    assert graph["realtimekit_django.schema.poison"] == set()
    assert graph["realtimekit_django.schema.fields"] == {"realtimekit_django.schema.poison"}


# --- the import graph, read from the source -----------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, here: str | None = None) -> set[str]:
    """Every module ``path`` imports, anywhere in it (functions and ``TYPE_CHECKING`` too).

    ``from x import y`` counts as importing ``x.y`` when ``x.y`` is a module of this package,
    and as importing ``x`` otherwise; relative imports are resolved against the file's package.
    """
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if _is_module(candidate) else source)
    return found


def _is_module(name: str) -> bool:
    if not name.startswith("realtimekit_django"):
        return False
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph(folder: str) -> dict[str, set[str]]:
    """``{module: modules of the same folder it imports}`` for every module of ``folder``."""
    prefix = f"realtimekit_django.{folder}"
    modules = {module_name(path): path for path in (PACKAGE / folder).rglob("*.py")}
    return {
        name: {
            target
            for target in imports_of(path)
            if target != name and (target == prefix or target.startswith(prefix + "."))
        }
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as a list of modules, or ``None``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


#: Folders whose modules must not import each other in a circle.
ACYCLIC_FOLDERS = ["client", "emulator", "schema"]

#: (folder, folder it must never import): the writers never know the readers.
FORBIDDEN_IMPORTS = [("services", "sync"), ("sync", "tasks")]


@pytest.mark.parametrize("folder", ACYCLIC_FOLDERS)
def test_no_import_circle_inside(folder):
    graph = import_graph(folder)
    assert len(graph) > 1, f"{folder}/ has no modules: the test reads the wrong place"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize("folder, forbidden", FORBIDDEN_IMPORTS)
def test_folder_never_imports(folder, forbidden):
    target = f"realtimekit_django.{forbidden}"
    offenders = {
        f"{module_name(path)} imports {name}"
        for path in (PACKAGE / folder).rglob("*.py")
        for name in imports_of(path)
        if name == target or name.startswith(target + ".")
    }
    assert not offenders, sorted(offenders)


def test_the_graph_reader_sees_circles_and_every_kind_of_import(tmp_path):
    """The reader must be able to fail: a planted circle, through a TYPE_CHECKING import."""
    graph = import_graph("client")
    assert "realtimekit_django.client.resource" in graph["realtimekit_django.client.meetings"]
    assert "realtimekit_django.client.meetings" in graph["realtimekit_django.client.http"]
    # budget.py imports http inside a function: it is an edge all the same.
    assert "realtimekit_django.client.http" in graph["realtimekit_django.client.budget"]
    planted = {**graph, "realtimekit_django.client.resource": {"realtimekit_django.client.http"}}
    assert find_cycle(planted) is not None
    # The services -> sync arrow as it would be written: relative, and inside a function.
    module = tmp_path / "writer.py"
    module.write_text("def f():\n    from ..sync import schedule\n    from .. import sync\n")
    found = imports_of(module, here="realtimekit_django.services.writer")
    assert {"realtimekit_django.sync.schedule", "realtimekit_django.sync"} <= found


def test_tasks_py_holds_only_task_definitions_and_their_schedule():
    """Every function of tasks.py is a Celery task, a schedule, or one of the few helpers that
    only make sense with Celery (sending a task); the work lives in sync/, services/, webhooks/."""
    tree = ast.parse((PACKAGE / "tasks.py").read_text())
    helpers = {"beat_schedule", "webhook_beat_schedule", "sessions_beat_schedule", "_send_participant_walk", "fan_out", "check_pace"}
    others = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            assert node.name == "ReconcileTask", node.name
        elif isinstance(node, ast.FunctionDef):
            decorators = {ast.unparse(d).split("(")[0] for d in node.decorator_list}
            if "shared_task" not in decorators and node.name not in helpers:
                others.append(node.name)
    assert others == []


def test_the_client_takes_the_recording_shapes_from_the_schema():
    """The start body's fields and the listing's parameters are described once, in the schema;
    the client's keywords (the SDK's) must name exactly those."""
    import inspect

    from realtimekit_django import schema
    from realtimekit_django.client import recordings

    start = inspect.signature(recordings.RecordingsResource.start_recordings).parameters
    assert tuple(name for name in start if name != "self") == schema.RECORDING_START_FIELDS
    assert set(recordings._LISTING_ORDER) == set(schema.RECORDING_LISTING_PARAMS)
    assert "status" in schema.RECORDING_LISTING_PARAMS and "meeting_id" in schema.RECORDING_START_FIELDS

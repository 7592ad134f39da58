"""The package's shape: rooms that import only downward, no import circles, small modules, public
names documented. These fail when a change breaks the layering, not when it only moves code."""

from __future__ import annotations

import ast
import inspect
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The source folders and the package names they install as (pyproject.toml's package-dir).
FOLDERS = {"cfpc_gym": "cfpc_gym", "controllers": "cfpc_gym.controllers", "envs": "cfpc_gym.envs"}
MAX_LINES = 400

# Lower layers never import higher ones; within a layer no module imports a higher one either.
LAYERS = [
    ("cfpc_gym.controllers", "cfpc_gym.envs", "cfpc_gym.configs"),
    ("cfpc_gym.errors",),
    ("cfpc_gym.io", "cfpc_gym.config", "cfpc_gym.threads"),
    ("cfpc_gym.body",),
    ("cfpc_gym.agent", "cfpc_gym.rollout", "cfpc_gym.resources"),
    ("cfpc_gym.body_models",),
    ("cfpc_gym.build",),
    ("cfpc_gym.wrappers",),
    ("cfpc_gym.analysis",),
    ("cfpc_gym.experiment",),
    ("cfpc_gym.bench",),
    ("cfpc_gym.cli", "cfpc_gym.config_reference"),
]


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def layer(module: str) -> int:
    if module == "cfpc_gym":
        return 0  # the package's __init__ only registers the envs
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py")


def imports(module: str, path: Path) -> set[str]:
    """The cfpc_gym modules ``module`` imports, at any depth of its code (annotation-only
    imports under TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
            found |= {n if n in MODULES else base for n in names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m == "cfpc_gym" or m.startswith("cfpc_gym.")}


MODULES = modules()
GRAPH = {module: imports(module, path) for module, path in MODULES.items()}


def test_every_import_runs_down_the_layers():
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_three_rooms_hold():
    for module, targets in GRAPH.items():
        if module.startswith("cfpc_gym.controllers"):
            assert all(t.startswith("cfpc_gym.controllers") for t in targets), (module, targets)
        if module.startswith("cfpc_gym.envs"):
            assert all(t.startswith("cfpc_gym.envs") for t in targets), (module, targets)


def test_no_import_circle():
    def resolve(target: str) -> str:  # an import of a package's member lands on the package
        return target if target in GRAPH else target.rpartition(".")[0]

    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(resolve(t) for t in GRAPH[module]):
            if target == module or target not in GRAPH:
                continue
            if state.get(target) == 1:
                cycle = trail[trail.index(target) :] + [target] if target in trail else [module, target]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])


def test_no_module_is_over_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by concept: {long}"


def test_importing_never_switches_matplotlib_state():
    patterns = ("matplotlib.use(", "import matplotlib.pyplot", "from matplotlib import pyplot")
    offenders = [m for m, p in MODULES.items() if any(x in p.read_text() for x in patterns)]
    assert not offenders, offenders


# --- docstrings ---------------------------------------------------------------------------------

# The library face: every public class and function says what it takes and returns.
STRUCTURED = ("cfpc_gym.agent", "cfpc_gym.rollout", "cfpc_gym.wrappers", "cfpc_gym.build", "cfpc_gym.config")
CENTRAL = {
    "cfpc_gym.agent": ["CFPCAgent"],
    "cfpc_gym.controllers.cfpc": ["CFPC"],
    "cfpc_gym.controllers.feedback": ["PID"],
    "cfpc_gym.controllers.forward_models": ["ForwardModel"],
    "cfpc_gym.config.schema": ["RunConfig"],
    "cfpc_gym.build": ["make_agent"],
}


def public_members(module_name: str):
    module = import_module(module_name)
    for name, member in vars(module).items():
        if name.startswith("_") or getattr(member, "__module__", None) != module_name:
            continue
        if inspect.isclass(member) or inspect.isfunction(member):
            yield name, member


def own_doc(member) -> str:
    """The member's own docstring (a class does not inherit its base class's here)."""
    doc = member.__dict__.get("__doc__") if inspect.isclass(member) else member.__doc__
    return inspect.cleandoc(doc) if doc else ""


def takes_arguments(member) -> bool:
    function = member.__init__ if inspect.isclass(member) else member
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return any(p not in ("self", "cls", "args", "kwargs", "data") for p in parameters)


def structured(member) -> bool:
    doc = own_doc(member)
    if inspect.isclass(member):
        return "Args:" in doc or not takes_arguments(member) or _is_model(member)
    returns = inspect.signature(member).return_annotation not in (None, "None", inspect.Signature.empty)
    return ("Args:" in doc or not takes_arguments(member)) and ("Returns:" in doc or not returns)


def _is_model(member) -> bool:  # pydantic and dataclass fields are documented under each field
    return hasattr(member, "model_fields") or hasattr(member, "__dataclass_fields__")


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_every_public_class_and_function_has_a_docstring(module_name):
    missing = [name for name, member in public_members(module_name) if not own_doc(member)]
    assert not missing, f"{module_name}: no docstring on {missing}"


@pytest.mark.parametrize("module_name", [m for m in sorted(MODULES) if m.startswith(STRUCTURED)])
def test_the_library_face_has_structured_docstrings(module_name):
    loose = [name for name, member in public_members(module_name) if not structured(member)]
    assert not loose, f"{module_name}: Args:/Returns: missing on {loose}"


@pytest.mark.parametrize(("module_name", "names"), sorted(CENTRAL.items()))
def test_the_central_classes_say_what_they_take_and_return(module_name, names):
    module = import_module(module_name)
    for name in names:
        doc = own_doc(getattr(module, name))
        assert "Args:" in doc or name == "RunConfig", f"{module_name}.{name}: no Args: section"
        assert "Example:" in doc, f"{module_name}.{name}: no Example: section"

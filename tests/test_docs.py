"""The docs hold: the config reference is generated from the schema, the README's Python runs, every
command line shown parses, and every link, path, module and name they mention exists."""

from __future__ import annotations

import difflib
import re
import shlex
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import gymnasium as gym
import pytest
from pydantic import Field

from cfpc_gym.bench.config import BenchConfig, load_bench
from cfpc_gym.cli import _parser
from cfpc_gym.config import RunConfig, Section, load_config
from cfpc_gym.config_reference import REGENERATE, config_sections, reference_markdown, section_markdown
from cfpc_gym.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG_PAGE = ROOT / "docs" / "CONFIG.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def fenced(text: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of one language."""
    return [body for lang, body in FENCE.findall(text) if lang == language]


def prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return FENCE.sub("", text)


def text_of(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def where(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --- (a) the config reference --------------------------------------------------------------------


def test_config_page_is_the_generated_reference():
    expected, actual = reference_markdown(), text_of(CONFIG_PAGE)
    diff = "".join(list(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True)))[:30])
    assert actual == expected, f"docs/CONFIG.md is stale: regenerate with `{REGENERATE}`\n{diff}"


def test_the_reference_module_prints_the_page():
    printed = subprocess.run(
        [sys.executable, "-m", "cfpc_gym.config_reference"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == reference_markdown()


class _Inner(Section):
    kind: str = "x"


class _Toy(Section):
    """A toy section.

    More text that stays out of the page."""

    rate: float = Field(0.5, gt=0, le=1)
    """How fast | it learns."""
    names: list[str] = Field(min_length=1)
    inner: _Inner | None = None


def test_a_section_lists_every_key_with_type_default_and_docstring():
    sections = config_sections(_Toy)
    assert [(model, paths) for model, paths in sections] == [(_Toy, [""]), (_Inner, ["inner"])]
    page = section_markdown(_Toy, [""])
    assert "A toy section." in page and "More text" not in page
    assert "| `rate` | float; > 0, <= 1 | `0.5` | How fast \\| it learns. |" in page
    assert "| `names` | list of str; at least 1 long | required |  |" in page
    assert "| `inner` | [_Inner](#_inner) or null | `null` |  |" in page


def test_every_config_section_is_in_the_page():
    page = text_of(CONFIG_PAGE)
    sections = [model for root in (RunConfig, BenchConfig) for model, _ in config_sections(root)]
    assert len(sections) >= 15
    missing = [m.__name__ for m in sections if f'<a id="{m.__name__.lower()}"></a>' not in page]
    assert not missing, missing


# --- (b) the README's Python runs ------------------------------------------------------------------

PYTHON_BLOCKS = fenced(text_of(README), "python")
# PPO's 10,000 steps take ~40 s on two cores; learn(1) still collects one rollout and trains on it.
SHORTER = {".learn(10_000)": ".learn(1)"}
SHORTENED = [i for i, block in enumerate(PYTHON_BLOCKS) if any(long in block for long in SHORTER)]


def run_block(index: int, shorten: bool) -> None:
    code = PYTHON_BLOCKS[index]
    for long, short in SHORTER.items() if shorten else ():
        code = code.replace(long, short)
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme_block"})


def test_the_readme_shows_python():
    assert len(PYTHON_BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_block_runs(index):
    run_block(index, shorten=True)


@pytest.mark.slow
@pytest.mark.parametrize("index", SHORTENED)
def test_readme_python_block_runs_as_written(index):
    run_block(index, shorten=False)


# --- (c) command lines -----------------------------------------------------------------------------

CLI_NAMES = ("cfpc-gym", ".venv/bin/cfpc-gym")


def shown_commands(page: Path) -> list[str]:
    """``cfpc-gym ...`` lines of the page's bash blocks (continuations joined, comments dropped)
    and of its inline code."""
    text = text_of(page)
    lines = [
        line.split(" #")[0].strip()
        for block in fenced(text, "bash")
        for line in block.replace("\\\n", " ").splitlines()
    ]
    lines += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose(text))]
    return [line for line in lines if line.split(" ", 1)[0] in CLI_NAMES]


COMMANDS = [(where(page), line) for page in PAGES for line in shown_commands(page)]


def subcommands() -> dict:
    parser = _parser()
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def placeholder(word: str | None) -> bool:
    return word is not None and re.fullmatch(r"[A-Z_]+", word) is not None


def test_the_readme_shows_every_subcommand():
    shown = {line.split()[1] for page, line in COMMANDS if page == "README.md"}
    assert shown >= set(subcommands()), set(subcommands()) - shown


def synopsis(words: list[str]) -> bool:
    """A usage line ([optional] parts, a|b choices, ...), or a bare mention of a subcommand."""
    return len(words) == 1 or any(w.startswith("[") or "|" in w or "..." in w for w in words)


@pytest.mark.parametrize(("page", "line"), COMMANDS)
def test_command_line_parses(page, line):
    words = shlex.split(line)[1:]
    choices = subcommands()
    assert words[0] in choices, f"{page}: {line}: no subcommand {words[0]}"
    known = choices[words[0]]._option_string_actions  # spelled out: argparse would take a prefix
    unknown = [o for o in re.findall(r"(?<!\S)--[a-z][\w-]*", line) if o not in known]
    assert not unknown, f"{page}: {line}: unknown options {unknown}"
    if synopsis(words):  # a usage line: the subcommand and its options are all it can show
        return
    try:
        args = _parser().parse_args(words)
    except UsageError as exc:
        pytest.fail(f"{page}: {line}: {exc}")
    if args.command == "run" and not args.resume and not placeholder(args.config):
        shown = ROOT / args.config if args.config and (ROOT / args.config).is_file() else args.config
        load_config(shown, args.overrides)  # every --set key exists and validates (paths: the repo's)
    if args.command in ("bench", "sweep") and not args.resume and not placeholder(args.config):
        load_bench(args.config, args.overrides)


# --- (d) links --------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors of a page: explicit ``<a id>``s and GitHub's heading slugs."""
    text = text_of(page)
    headings = re.findall(r"^#+ (.+)$", prose(text), re.MULTILINE)
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    return slugs | set(re.findall(r'<a id="([^"]+)"', text))


LINKS = [
    (where(page), target)
    for page in PAGES
    for target in LINK.findall(prose(text_of(page)))
    if not target.startswith(("http://", "https://", "mailto:"))
]


def test_pages_link_to_each_other():
    assert len(LINKS) > 20


@pytest.mark.parametrize(("page", "target"), LINKS)
def test_relative_link_points_at_a_file(page, target):
    path, _, anchor = target.partition("#")
    source = ROOT / page
    resolved = (source.parent / path).resolve() if path else source
    assert resolved.exists(), f"{page}: link to {target}: no such file"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), f"{page}: link to {target}: no such anchor"


# --- (e) modules, names, paths and env ids ----------------------------------------------------------

ALL_TEXT = {where(page): text_of(page) for page in PAGES}
FOLDERS = ("cfpc_gym", "controllers", "envs", "configs", "tests", "benchmarks", "docs")
SUFFIXES = "py|yaml|md|png|json|xml"
PATH = re.compile(rf"(?<![\w/.(-])((?:{'|'.join(FOLDERS)})/(?:[\w.-]+/)*[\w.-]+\.(?:{SUFFIXES}))")


def mentions(pattern: str) -> list[tuple[str, str]]:
    return sorted({(page, m) for page, text in ALL_TEXT.items() for m in re.findall(pattern, text)})


def resolve(dotted: str):
    """Import the longest importable prefix of a dotted name and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize(("page", "module"), mentions(r"python -m (cfpc_gym[\w.]*)"))
def test_python_m_module_exists(page, module):
    import_module(module)


@pytest.mark.parametrize(("page", "statement"), mentions(r"from cfpc_gym[\w.]* import [\w, ]+"))
def test_imports_shown_resolve(page, statement):
    module, names = re.fullmatch(r"from (\S+) import (.+)", statement.strip(" ,")).groups()
    imported = import_module(module)
    missing = [name for name in (n.strip() for n in names.split(",")) if not hasattr(imported, name)]
    assert not missing, f"{page}: {statement}: no {missing}"


@pytest.mark.parametrize(("page", "dotted"), mentions(r"\bcfpc_gym(?:\.\w+)+"))
def test_dotted_names_resolve(page, dotted):
    try:
        resolve(dotted)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{page}: {dotted}: {exc}")


@pytest.mark.parametrize(("page", "path"), mentions(PATH.pattern))
def test_repository_paths_exist(page, path):
    assert (ROOT / path).exists(), f"{page}: {path}: no such file"


@pytest.mark.parametrize(("page", "env_id"), mentions(r"\bcfpc_gym/\w+-v\d+"))
def test_env_ids_are_registered(page, env_id):
    assert env_id in gym.registry, f"{page}: {env_id} is not registered"


def module_map() -> list[str]:
    section = text_of(README).split("## How it fits together", 1)[1]
    return fenced(section, "text")[0].splitlines()


def test_readme_module_map_names_what_exists():
    folder, named, missing = ROOT, set(), []
    for line in module_map():
        nested = line.startswith(" ")
        for name in re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split(", "):
            path = (folder if nested else ROOT) / name
            named.add(path)
            if not path.exists() or name.endswith("/") != path.is_dir():
                missing.append(line.strip())
            if not nested:
                folder = path
    assert not missing, f"README.md's module map names what does not exist: {missing}"
    library = {p for p in (ROOT / "cfpc_gym").iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    unnamed = sorted(p.name for p in library - named if p.name != "__init__.py")
    assert not unnamed, f"README.md's module map leaves out cfpc_gym/{unnamed}"


def test_readme_names_every_metrics_key():
    from cfpc_gym.experiment.results import ControllerResult

    listed = re.search(r"`runs: \[\{([^}]*)\}\]`", " ".join(text_of(README).split())).group(1)
    keys = set(ControllerResult(name="x", rule="none", trial_rmse=[1.0]).metrics())
    assert {k.strip() for k in listed.split(",")} == keys

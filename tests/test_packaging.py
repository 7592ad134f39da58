"""controllers/ and envs/ install inside the package namespace, from a wheel and editable alike."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import cfpc_gym

ROOT = Path(__file__).resolve().parents[1]
CHECK = (
    "import importlib.util, cfpc_gym.controllers, cfpc_gym.envs, cfpc_gym.configs;"
    "from importlib.resources import files;"
    "assert importlib.util.find_spec('controllers') is None, 'top-level controllers module';"
    "assert importlib.util.find_spec('envs') is None, 'top-level envs module';"
    "assert (files('cfpc_gym.configs') / 'paper_linear.yaml').is_file();"
    "import gymnasium; gymnasium.make('cfpc_gym/LinearPlant-v0');"
    "print(cfpc_gym.controllers.__file__)"
)


def test_the_installed_package_maps_the_design_folders_into_its_namespace(tmp_path):
    """Run from an unrelated directory, so nothing resolves through the source tree by accident."""
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).parent.name in {"controllers", "cfpc_gym"}


@pytest.mark.slow
def test_a_built_wheel_holds_and_imports_the_subpackages(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("cfpc_gym-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "cfpc_gym/controllers/cfpc.py",
        "cfpc_gym/envs/linear_plant.py",
        "cfpc_gym/configs/paper_linear.yaml",
    ):
        assert expected in names
    assert not [n for n in names if n.startswith(("controllers/", "envs/", "configs/", "tests/"))]
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(unpacked)!r}] + {_site_paths()!r}; {CHECK}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith(str(unpacked))


def _site_paths() -> list[str]:
    """Site-packages of this environment without the editable install's path hook."""
    return [p for p in sys.path if p.endswith("site-packages")]


def test_version_comes_from_the_distribution():
    assert cfpc_gym.__version__ != "0.0.0"


def test_gymnasium_makes_the_envs_without_importing_the_package_first():
    code = (
        "import sys, gymnasium; assert 'cfpc_gym' not in sys.modules; "
        "env = gymnasium.make('cfpc_gym:cfpc_gym/LinearPlant-v0'); print(env.unwrapped.tracking_spec.dofs)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr

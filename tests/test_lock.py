"""uv.lock against pyproject.toml and against the venv running the suite.

`make test` syncs the venv from uv.lock with every extra but `gpu`; these tests fail when someone
edits pyproject.toml without `make lock`, or when the venv holds anything the lock does not.
"""

import importlib.metadata
import pathlib
import sysconfig
import tomllib

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT = "audio-sidecar"
# What `make test` installs.
TEST_EXTRAS = ("all", "dev")
# uv leaves the installers a venv was created with alone; they are not the project's dependencies.
SEED_PACKAGES = {"pip", "setuptools", "wheel"}


@pytest.fixture(scope="module")
def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def lock():
    return tomllib.loads((ROOT / "uv.lock").read_text())


def packages_by_name(lock) -> dict[str, dict]:
    names = [package["name"] for package in lock["package"]]
    assert len(names) == len(set(names)), "a package is locked at two versions: the walk below assumes one"
    return {package["name"]: package for package in lock["package"]}


def project_requirements(pyproject) -> list[Requirement]:
    """pyproject's dependencies, each extra's carrying its `extra == '...'` marker as uv writes it."""
    project = pyproject["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    for extra, texts in project["optional-dependencies"].items():
        for text in texts:
            requirement = Requirement(text)
            marker = f"extra == '{extra}'"
            requirement.marker = Marker(f"({requirement.marker}) and {marker}" if requirement.marker else marker)
            requirements.append(requirement)
    return requirements


def locked_requirements(lock) -> list[Requirement]:
    """The root's requires-dist as recorded when uv.lock was made."""
    root = packages_by_name(lock)[PROJECT]
    requirements = []
    for entry in root["metadata"]["requires-dist"]:
        text = entry["name"]
        if entry.get("extras"):
            text += "[" + ",".join(entry["extras"]) + "]"
        text += entry.get("specifier", "")
        if "marker" in entry:
            text += f"; {entry['marker']}"
        requirements.append(Requirement(text))
    return requirements


def normalized(requirements) -> list[tuple]:
    return sorted(
        (canonicalize_name(r.name), tuple(sorted(r.extras)), str(r.specifier), str(r.marker or ""))
        for r in requirements
    )


def test_lock_was_made_from_this_pyproject(pyproject, lock):
    assert normalized(locked_requirements(lock)) == normalized(project_requirements(pyproject)), (
        "pyproject.toml changed since uv.lock was made: run `make lock`"
    )
    uv_settings = pyproject["tool"]["uv"]
    manifest = lock["manifest"]
    assert sorted(f"{o['name']}; {o['marker']}" for o in manifest["overrides"]) == sorted(
        uv_settings["override-dependencies"]
    ), "override-dependencies changed: run `make lock`"
    assert sorted(f"{c['name']}{c['specifier']}" for c in manifest["build-constraints"]) == sorted(
        uv_settings["build-constraint-dependencies"]
    ), "build-constraint-dependencies changed: run `make lock`"


def test_locked_versions_satisfy_pyproject(pyproject, lock):
    locked = {canonicalize_name(name): package.get("version") for name, package in packages_by_name(lock).items()}
    unmet = []
    for requirement in project_requirements(pyproject):
        name = canonicalize_name(requirement.name)
        if name == PROJECT:
            continue
        if name not in locked:
            unmet.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            unmet.append(f"{requirement}: locked at {locked[name]}")
    assert not unmet, "uv.lock does not satisfy pyproject.toml: " + "; ".join(unmet)


def locked_closure(lock, extras) -> dict[str, str]:
    """Name -> version of every package the lock installs for PROJECT with `extras`, here."""
    packages = packages_by_name(lock)
    wanted: dict[str, str] = {}
    pending = [(PROJECT, frozenset(extras))]
    seen = set()
    while pending:
        name, with_extras = pending.pop()
        if (name, with_extras) in seen:
            continue
        seen.add((name, with_extras))
        package = packages[name]
        if name != PROJECT:
            wanted[name] = package["version"]
        dependencies = list(package.get("dependencies", []))
        for extra in with_extras:
            dependencies += package.get("optional-dependencies", {}).get(extra, [])
        for dependency in dependencies:
            if "marker" in dependency and not Marker(dependency["marker"]).evaluate():
                continue
            pending.append((dependency["name"], frozenset(dependency.get("extra", ()))))
    return wanted


def test_the_closure_walk_reads_the_lock(lock):
    """The walk below must see extras and transitive dependencies, or the next test proves little."""
    asr = locked_closure(lock, ["asr"])
    assert "faster-whisper" in asr and "ctranslate2" in asr and "torch" not in asr
    everything = locked_closure(lock, TEST_EXTRAS)
    assert {"torch", "torchaudio", "coqui-tts", "pytest", "webrtcvad-wheels"} <= everything.keys()
    assert "webrtcvad" not in everything  # left out by override-dependencies
    assert "nvidia-cublas-cu12" not in everything  # the gpu extra is not part of the suite's install


def installed_here() -> dict[str, str]:
    """The distributions installed in this venv: its site-packages, not all of sys.path, which
    a package may extend with copies it vendors (Ray adds its thirdparty_files)."""
    found = {}
    site_packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    for distribution in importlib.metadata.distributions(path=site_packages):
        name = canonicalize_name(distribution.metadata["Name"])
        found.setdefault(name, distribution.version)
    return found


def test_installed_packages_equal_the_lock(lock):
    wanted = {canonicalize_name(name): version for name, version in locked_closure(lock, TEST_EXTRAS).items()}
    installed = installed_here()
    installed.pop(PROJECT, None)
    for seed in SEED_PACKAGES - wanted.keys():
        installed.pop(seed, None)
    differences = sorted(
        f"{name}: installed {installed.get(name, '-')}, locked {wanted.get(name, '-')}"
        for name in wanted.keys() | installed.keys()
        if installed.get(name) != wanted.get(name)
    )
    assert not differences, "the venv differs from uv.lock (run `make install`): " + "; ".join(differences)

"""The deployment installs what was tested: the locks agree with pyproject.toml and with each other.

pyproject.toml holds the ranges; ``make lock`` resolves them into uv.lock and exports requirements.txt (what
Flex Consumption's remote build installs) and requirements-dev.lock (what ``make install`` puts in .venv).
A dependency edited in pyproject.toml without ``make lock``, or a requirements file edited by hand, fails
here rather than deploying versions nobody tested. See docs/dependencies.md. Files only: no network.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "amlexec"
# The optional extra the Function App installs beside [project.dependencies] (azure-functions, telemetry).
DEPLOYED_EXTRAS = ("functions",)
FIX = "run `make lock` (docs/dependencies.md)"


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: frozenset[str]


def _pins(path: Path) -> list[Pin]:
    """The requirements of a `uv export` file: one per logical line, hashes on its continuation lines."""
    pins = []
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec = line.split(" --", 1)[0]
        requirement = Requirement(spec)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: {spec!r} is not an exact pin"
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=specifiers[0].version,
                hashes=frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)),
            )
        )
    return pins


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def _lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _runtime_requirements() -> list[Requirement]:
    project = _pyproject()
    declared = list(project["dependencies"])
    for extra in DEPLOYED_EXTRAS:
        declared += project["optional-dependencies"][extra]
    return [Requirement(text) for text in declared]


def _closure(lock: dict[str, Any], extras: tuple[str, ...]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every package (name, version) the lock installs for the project with these extras, transitively."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        by_name.setdefault(package["name"], []).append(package)

    def package_of(dependency: dict[str, Any]) -> dict[str, Any]:
        # A name the lock holds at one version only is written without one; a forked name (one version per
        # Python range, say) names its version on each edge.
        candidates = [p for p in by_name[dependency["name"]] if dependency.get("version", p["version"]) == p["version"]]
        assert len(candidates) == 1, f"uv.lock: cannot tell which {dependency['name']} is meant"
        return candidates[0]

    (project,) = by_name[PROJECT]
    edges = list(project.get("dependencies", []))
    for extra in extras:
        edges += project.get("optional-dependencies", {}).get(extra, [])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    expanded: set[tuple[str, str, str]] = set()
    while edges:
        dependency = edges.pop()
        package = package_of(dependency)
        key = (package["name"], package["version"])
        found[key] = package
        for part in ("", *dependency.get("extra", [])):
            if (*key, part) in expanded:
                continue
            expanded.add((*key, part))
            if part:
                edges += package.get("optional-dependencies", {}).get(part, [])
            else:
                edges += package.get("dependencies", [])
    return found


def _hashes(package: dict[str, Any]) -> frozenset[str]:
    files = [package["sdist"]] if "sdist" in package else []
    return frozenset(f["hash"] for f in files + package.get("wheels", []))


def _requires_dist(requirement: Requirement, extra: str | None) -> tuple[str, frozenset[str], SpecifierSet, str, str]:
    return (
        canonicalize_name(requirement.name),
        frozenset(requirement.extras),
        requirement.specifier,
        str(requirement.marker or ""),
        extra or "",
    )


def _locked_requires_dist(entry: dict[str, Any]) -> tuple[str, frozenset[str], SpecifierSet, str, str]:
    # uv writes an extra's dependency with `extra == '…'` and'ed onto the dependency's own marker.
    marker = entry.get("marker", "")
    extra = re.search(r"extra == '([^']+)'", marker)
    rest = re.sub(r"(^| and )extra == '[^']+'", "", marker).removeprefix(" and ").strip()
    return (
        entry["name"],
        frozenset(entry.get("extras", [])),
        SpecifierSet(entry.get("specifier", "")),
        str(Marker(rest)) if rest else "",
        extra.group(1) if extra else "",
    )


def test_the_lock_was_resolved_from_this_pyproject() -> None:
    """The ranges uv.lock was resolved from are pyproject.toml's ranges today: no dependency added since."""
    project = _pyproject()
    wanted = {_requires_dist(Requirement(text), None) for text in project["dependencies"]}
    for extra, texts in project.get("optional-dependencies", {}).items():
        wanted |= {_requires_dist(Requirement(text), extra) for text in texts}
    (locked_project,) = (p for p in _lock()["package"] if p["name"] == PROJECT)
    locked = {_locked_requires_dist(entry) for entry in locked_project["metadata"]["requires-dist"]}

    def show(items: set[tuple[str, frozenset[str], SpecifierSet, str, str]]) -> list[str]:
        return sorted(f"{n}{sorted(x) if x else ''}{s} {m} {'[' + e + ']' if e else ''}" for n, x, s, m, e in items)

    assert wanted == locked, (
        f"uv.lock is older than pyproject.toml; {FIX}. "
        f"In pyproject only: {show(wanted - locked)}; in uv.lock only: {show(locked - wanted)}"
    )
    assert _lock()["requires-python"] == str(SpecifierSet(project["requires-python"])), FIX


def test_requirements_txt_pins_every_runtime_dependency_within_its_range() -> None:
    pins = _pins(ROOT / "requirements.txt")
    for requirement in _runtime_requirements():
        versions = [p.version for p in pins if p.name == canonicalize_name(requirement.name)]
        assert versions, f"requirements.txt does not pin {requirement.name}; {FIX}"
        outside = [v for v in versions if not requirement.specifier.contains(v, prereleases=True)]
        assert not outside, f"requirements.txt pins {requirement.name}=={outside} outside {requirement}; {FIX}"


def test_requirements_txt_is_exactly_what_the_lock_deploys() -> None:
    """Every transitive runtime dependency (pip's hash-checking mode refuses to install an unlisted one) and
    nothing else: no test tool ships to the Function App."""
    pins = _pins(ROOT / "requirements.txt")
    deployed = _closure(_lock(), DEPLOYED_EXTRAS)
    pinned = {(p.name, p.version) for p in pins}
    assert pinned == set(deployed), (
        f"requirements.txt is not uv.lock's runtime set; {FIX}. "
        f"Missing: {sorted(set(deployed) - pinned)}; not deployed by the lock: {sorted(pinned - set(deployed))}"
    )
    test_only = {canonicalize_name(Requirement(t).name) for t in _pyproject()["optional-dependencies"]["test"]}
    test_only -= {name for name, _ in deployed}
    assert not test_only & {p.name for p in pins}, "a test tool is in requirements.txt"


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.lock"])
def test_every_pin_carries_the_locked_hashes(name: str) -> None:
    lock = {(p["name"], p["version"]): p for p in _lock()["package"]}
    pins = _pins(ROOT / name)
    assert pins, f"{name} pins nothing"
    for pin in pins:
        assert pin.hashes, f"{name}: {pin.name}=={pin.version} has no --hash (pip would refuse the whole file)"
        assert (pin.name, pin.version) in lock, f"{name}: {pin.name}=={pin.version} is not in uv.lock; {FIX}"
        assert pin.hashes == _hashes(lock[pin.name, pin.version]), f"{name}: {pin.name}'s hashes are not uv.lock's"


def test_the_tests_run_on_the_versions_that_deploy() -> None:
    """requirements-dev.lock (make install) is the same lock with the test extra: each deployed pin is in it."""
    deployed = {(p.name, p.version) for p in _pins(ROOT / "requirements.txt")}
    dev = {(p.name, p.version) for p in _pins(ROOT / "requirements-dev.lock")}
    assert deployed <= dev, f"requirements-dev.lock lacks {sorted(deployed - dev)}; {FIX}"
    every_extra = tuple(_pyproject()["optional-dependencies"])
    assert dev == set(_closure(_lock(), every_extra)), f"requirements-dev.lock is not uv.lock's test set; {FIX}"


def test_uv_finds_the_lock_current() -> None:
    """uv's own check, offline (the lock holds everything it compares), in case it reads more than the above."""
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        found = shutil.which("uv")
        if found is None:
            pytest.skip("uv is not installed (make install installs it from requirements-dev.lock)")
        uv = Path(found)
    done = subprocess.run(
        [str(uv), "lock", "--check", "--offline", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Offline, uv reports a lock that needs re-resolving as a resolution it cannot finish ("not found in the cache").
    assert done.returncode == 0, f"uv.lock is not current for pyproject.toml; {FIX}. uv lock --check: {done.stderr}"

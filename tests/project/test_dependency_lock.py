"""requirements.lock pins every dependency pyproject.toml declares, within its declared range:
the versions CI tests are the versions a deployment installs and pip-audit checks."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("test", "dev", "bench"):
        declared += [d for d in project["optional-dependencies"].get(extra, []) if not d.startswith("birthday")]
    pins = locked()
    problems = []
    for spec in declared:
        requirement = Requirement(spec)
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert not problems, problems


def test_opentelemetry_ranges_move_in_lockstep():
    """API, SDK and exporters 1.N go with instrumentations 0.(N+21)bK (each release pins the
    other side exactly): every range allows one minor, and the two minors correspond."""
    from packaging.version import Version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    otel = [Requirement(d) for d in project["dependencies"] if d.startswith("opentelemetry-")]
    core = {str(r.specifier) for r in otel if not r.name.startswith("opentelemetry-instrumentation")}
    contrib = {str(r.specifier) for r in otel if r.name.startswith("opentelemetry-instrumentation")}
    assert len(core) == 1 and len(contrib) == 1, (core, contrib)

    def minor_range(specifier: str) -> tuple[Version, Version]:
        bounds = {s.operator: Version(s.version) for s in SpecifierSet(specifier)}
        low, high = bounds[">="], bounds["<"]
        assert (high.major, high.minor) == (low.major, low.minor + 1), specifier
        return low, high

    core_low, _ = minor_range(core.pop())
    contrib_low, _ = minor_range(contrib.pop())
    assert (core_low.major, contrib_low.major) == (1, 0)
    assert contrib_low.minor == core_low.minor + 21

"""pyproject.toml and environment.yml must pin the same packages to the same exact versions
(environment.yml: the dependencies and every optional extra, e.g. ``ray``)."""
import re
import tomllib

import yaml

from embcompat.utils import project_root

ROOT = project_root()
REQUIRED = {"torch": "2.14.1", "torchvision": "0.29.1", "torch-geometric": "2.8.1"}
REQUIRED_EXTRAS = {"ray": {"ray": "2.60.0"}}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-+]+)$")


def _pins(reqs):
    out = {}
    for r in reqs:
        m = PIN.match(r.strip())
        assert m, f"not an exact pin: {r!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


def _pyproject():
    return _pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def _extras():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {})
    return {name: _pins(reqs) for name, reqs in extras.items()}


def _environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "environment.yml needs exactly one pip section"
    assert "python=3.11" in env["dependencies"]
    return _pins(pip[0]["pip"])


def test_every_dependency_is_an_exact_pin():
    assert _pyproject()


def test_extras_are_exact_pins_apart_from_the_dependencies():
    core, extras = _pyproject(), _extras()
    for name, pins in REQUIRED_EXTRAS.items():
        assert extras.get(name) == pins, name
    for name, pins in extras.items():
        assert not set(pins) & set(core), f"extra {name} re-pins {set(pins) & set(core)}"


def test_environment_yml_matches_pyproject():
    py, env = _pyproject(), _environment()
    for pins in _extras().values():
        py = {**py, **pins}
    assert py == env, {k: (py.get(k), env.get(k)) for k in set(py) | set(env) if py.get(k) != env.get(k)}


def test_required_pins():
    py = _pyproject()
    for name, version in REQUIRED.items():
        assert py[name] == version


def test_pin_parser_rejects_ranges():
    import pytest

    with pytest.raises(AssertionError):
        _pins(["torch>=2.0"])

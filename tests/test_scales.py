"""Every named scale resolves every config section, and smoke is the smallest."""
import pytest

from embcompat.config import SCALES, get_scale


@pytest.mark.parametrize("name", SCALES)
def test_every_section_resolves(name):
    s = get_scale(name)
    assert s.name == name
    for section in ("data", "bc", "consumers", "fct", "sweep"):
        assert getattr(s, section) is not None, section


def test_env_default(monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_SCALE", "smoke")
    assert get_scale().name == "smoke"
    monkeypatch.delenv("EMBCOMPAT_SCALE")
    assert get_scale().name == "demo"


def test_smoke_consumers_are_smaller_than_paper():
    smoke, paper = get_scale("smoke").consumers, get_scale("paper").consumers
    assert smoke.epochs < paper.epochs
    assert len(smoke.seeds) < len(paper.seeds)

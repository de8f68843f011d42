"""Raw-file resolution: mirror -> cache -> download, checksums, and the missing-data message.

No test touches the network: downloads go through file:// URLs or fake downloaders.
"""
import hashlib

import pytest

from embcompat.data import resolve
from embcompat.data.resolve import (ChecksumError, DataNotFoundError, RemoteFile, SourceSpec,
                                    resolve_files, verify_checksum)

GOOD = b"user\titem\n1\t2\n"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    cache.mkdir()
    monkeypatch.setenv("EMBCOMPAT_MIRROR", str(mirror))
    monkeypatch.setenv("EMBCOMPAT_DATA", str(cache))
    monkeypatch.delenv("EMBCOMPAT_ALLOW_DOWNLOAD", raising=False)
    return mirror, cache


def spec(url="https://example.invalid/a.dat", sha=GOOD_SHA):
    return SourceSpec("toy", (RemoteFile("a.dat", url, sha), RemoteFile("b.dat", url, None)),
                      how_to_get="ask the toy maintainer")


def test_verify_checksum(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(GOOD)
    verify_checksum(p, GOOD_SHA)
    verify_checksum(p, None)
    assert p.exists()
    with pytest.raises(ChecksumError, match="does not match"):
        verify_checksum(p, "0" * 64)
    assert not p.exists(), "a file with a wrong digest must be removed"


def test_download_with_wrong_bytes_fails_and_leaves_nothing(env, tmp_path):
    _, cache = env
    src = tmp_path / "served.dat"
    src.write_bytes(b"tampered")
    with pytest.raises(ChecksumError):
        resolve._download(src.as_uri(), cache / "toy" / "a.dat", GOOD_SHA)   # file:// URL, no network
    assert not (cache / "toy" / "a.dat").exists()
    assert not any((cache / "toy").glob(".a.dat*")), "no temp file left behind"


def test_fake_downloader_wrong_and_right_bytes(env):
    _, cache = env

    def fake(payload):
        def dl(url, dest, sha):
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(payload)
            verify_checksum(dest, sha)
        return dl

    with pytest.raises(ChecksumError):
        resolve_files(spec(), allow_download=True, downloader=fake(b"wrong"))
    assert not (cache / "toy" / "a.dat").exists()
    folder = resolve_files(spec(), allow_download=True, downloader=fake(GOOD))
    assert folder == cache / "toy" and (folder / "a.dat").read_bytes() == GOOD


def test_missing_data_message_names_all_three_places(env):
    mirror, cache = env
    with pytest.raises(DataNotFoundError) as err:
        resolve_files(spec())
    msg = str(err.value)
    for needle in ("a.dat", "b.dat", "mirror", str(mirror / "toy"), "cache", str(cache / "toy"),
                   "download", "EMBCOMPAT_ALLOW_DOWNLOAD", "ask the toy maintainer"):
        assert needle in msg, needle


def test_missing_data_without_mirror_or_url(env, monkeypatch):
    monkeypatch.delenv("EMBCOMPAT_MIRROR")
    s = SourceSpec("toy", (RemoteFile("a.dat"),))
    with pytest.raises(DataNotFoundError, match=r"(?s)EMBCOMPAT_MIRROR.*unset.*not available"):
        resolve_files(s, allow_download=True)


def test_mirror_wins_over_cache_and_partial_folders_are_skipped(env):
    mirror, cache = env
    (cache / "toy").mkdir()
    for n in ("a.dat", "b.dat"):
        (cache / "toy" / n).write_bytes(GOOD)
    (mirror / "toy").mkdir()
    (mirror / "toy" / "a.dat").write_bytes(GOOD)       # b.dat missing: mirror incomplete
    assert resolve_files(spec()) == cache / "toy"
    (mirror / "toy" / "b.dat").write_bytes(GOOD)
    assert resolve_files(spec()) == mirror / "toy"

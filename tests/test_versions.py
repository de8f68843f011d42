"""The keep-latest VersionStore: composition, persistence, inductive use, errors, devices."""
import json

import pytest
import torch

from embcompat.models.transforms import LinearBackward, NoTransBackward, compose
from embcompat.versions import VersionStore, chain_from

DIMS = [4, 6, 7, 9]  # d_0 .. d_3


def _store(with_notrans=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    Bs = [LinearBackward(DIMS[k + 1], DIMS[k], generator=g) for k in range(3)]
    if with_notrans:
        Bs[1] = NoTransBackward(DIMS[2], DIMS[1])
    store = VersionStore(DIMS[0])
    for B in Bs:
        store.add_version(B)
    return store, Bs


def test_dims_and_K():
    store, _ = _store()
    assert store.K == 3 and store.dims == DIMS
    assert [tuple(W.shape) for W in store.matrices] == [(4, 6), (6, 7), (7, 9)]


@pytest.mark.parametrize("with_notrans", [False, True])
def test_precomposed_equals_sequential_and_module_chain(with_notrans):
    store, Bs = _store(with_notrans)
    z = torch.randn(11, DIMS[-1])
    for j in range(store.K + 1):
        seq = store.transform(z, j, sequential=True)
        pre = store.transform(z, j)
        ref = compose(Bs[j:], z)
        assert pre.shape == (11, DIMS[j])
        torch.testing.assert_close(pre, seq, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(seq, ref, rtol=1e-5, atol=1e-6)


def test_precompose_matrices_are_products():
    store, Bs = _store()
    W = store.precompose()
    assert set(W) == {0, 1, 2}
    torch.testing.assert_close(W[2], Bs[2].weight.detach())
    torch.testing.assert_close(W[1], Bs[1].weight.detach() @ Bs[2].weight.detach())
    torch.testing.assert_close(W[0], Bs[0].weight.detach() @ Bs[1].weight.detach() @ Bs[2].weight.detach())
    assert store.transform(torch.randn(2, 9), 3).shape == (2, 9)  # to latest = identity


def test_add_version_invalidates_cache():
    store, _ = _store()
    store.precompose()
    B4 = LinearBackward(10, 9, generator=torch.Generator().manual_seed(5))
    store.add_version(B4)
    z = torch.randn(3, 10)
    torch.testing.assert_close(store.transform(z, 0), store.transform(z, 0, sequential=True), rtol=1e-5, atol=1e-6)


def test_notrans_as_matrix_is_truncation():
    store = VersionStore(3)
    store.add_version(NoTransBackward(5, 3))
    assert store.kinds == ["notrans"]
    torch.testing.assert_close(store.matrices[0], torch.eye(3, 5))
    z = torch.randn(4, 5)
    torch.testing.assert_close(store.transform(z, 0), z[:, :3])


def test_unseen_inputs_are_transformed():
    """Inductive: the store transforms embeddings of nodes it never saw."""
    store, Bs = _store()
    stored = torch.randn(5, 9)
    store.set_embeddings(stored)
    unseen = torch.randn(7, 9) * 3 + 1
    out = store.transform(unseen, 1)
    torch.testing.assert_close(out, Bs[1](Bs[2](unseen)).detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(store.transform(to_version=1), Bs[1](Bs[2](stored)).detach(), rtol=1e-5, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    store, _ = _store(with_notrans=True)
    store.set_embeddings(torch.randn(13, 9))
    path = store.save(tmp_path / "sub" / "store.safetensors")
    header = VersionStore.read_header(path)
    assert header["dims"] == DIMS and header["K"] == 3 and header["kinds"] == ["linear", "notrans", "linear"]
    json.dumps(header)
    loaded = VersionStore.load(path)
    assert loaded.dims == store.dims and loaded.kinds == store.kinds
    for a, b in zip(loaded.matrices, store.matrices):
        assert torch.equal(a, b)
    assert torch.equal(loaded.embeddings, store.embeddings)
    for j in range(4):  # same data; BLAS may pick another kernel for differently aligned buffers
        torch.testing.assert_close(loaded.transform(to_version=j), store.transform(to_version=j), rtol=1e-6, atol=1e-7)
        assert torch.equal(loaded.composed_matrix(j), store.composed_matrix(j))
    assert not list(path.parent.glob("*.tmp"))


def test_load_rejects_foreign_file(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "x.safetensors"
    save_file({"a": torch.zeros(2)}, str(p))
    with pytest.raises(ValueError, match="not an embcompat VersionStore"):
        VersionStore.load(p)


def test_shape_errors_name_expected_dims():
    store, _ = _store()
    with pytest.raises(ValueError, match="d_K = 9"):
        store.transform(torch.randn(3, 8), 0)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        store.transform(torch.randn(3, 9), 4)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        store.transform(torch.randn(3, 9), -1)
    with pytest.raises(ValueError, match="d_3 = 9"):
        store.add_version(torch.randn(8, 12))
    with pytest.raises(ValueError, match="d_K = 9"):
        store.set_embeddings(torch.randn(2, 7))
    with pytest.raises(ValueError, match="no embeddings stored"):
        store.transform(to_version=0)


def test_add_version_drops_stale_embeddings_and_accepts_matrices():
    store = chain_from([torch.randn(3, 5)])
    assert store.dims == [3, 5]
    store.set_embeddings(torch.randn(2, 5))
    store.add_version(torch.randn(5, 8), embeddings=torch.randn(4, 8))
    assert store.embeddings.shape == (4, 8)
    store.add_version(torch.randn(8, 8))
    assert store.embeddings is None


def test_out_buffer_and_dtype_follow_input():
    store, _ = _store()
    z = torch.randn(6, 9, dtype=torch.float64)
    out = torch.empty(6, 4, dtype=torch.float64)
    res = store.transform(z, 0, out=out)
    assert res.data_ptr() == out.data_ptr() and res.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tmp_path):
    store, _ = _store()
    z = torch.randn(8, 9)
    cpu = store.transform(z, 0)
    store.to("cuda")
    gpu = store.transform(z.cuda(), 0)
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
    store.save(tmp_path / "s.safetensors")
    assert VersionStore.load(tmp_path / "s.safetensors", device="cuda").matrices[0].is_cuda

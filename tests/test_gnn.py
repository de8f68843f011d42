"""Tests of embcompat.models.gnn: the PinSAGE encoder M_k and its per-version graph."""
import pytest
import torch
import torch.nn.functional as F

from embcompat.models.gnn import PinSAGE, VersionGraph

D = 8


def tiny_inputs(num_users=5, num_items=5):
    """A small bipartite graph with a duplicate edge, an isolated item and feature-less items."""
    user = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3, 4, 0])
    item = torch.tensor([0, 1, 1, 2, 0, 2, 3, 3, 1, 1])  # (0, 1) twice; item 4 has no edge
    brand = torch.tensor([0, -1, 1, -1, 0, 1])  # one extra item beyond num_items (ignored)
    cat_ptr = torch.tensor([0, 2, 2, 3, 4, 4, 5])  # item 1 and 4 have no category
    cats = torch.tensor([0, 1, 2, 0, 1])
    return user[:], item, num_users, num_items, brand, cat_ptr, cats


def tiny_graph(**kw):
    return VersionGraph.build(*tiny_inputs(**kw))


def model(num_layers=2, seed=0):
    return PinSAGE(num_brands=2, num_categories=3, emb_dim=D, num_layers=num_layers, seed=seed)


@pytest.mark.parametrize("impl", ["fast", "spmm", "pyg"])
def test_output_shapes(impl):
    u, i = model()(tiny_graph(), impl=impl)
    assert u.shape == (5, D) and i.shape == (5, D)
    assert torch.isfinite(u).all() and torch.isfinite(i).all()


def test_bipartite_mean_operators_and_transposes():
    g = tiny_graph()
    user, item = tiny_inputs()[:2]
    cnt = torch.zeros(5, 5)
    cnt.index_put_((user, item), torch.ones(user.numel()), accumulate=True)  # (U, I) counts
    ui = cnt / cnt.sum(1, keepdim=True).clamp(min=1)
    iu = cnt.t() / cnt.t().sum(1, keepdim=True).clamp(min=1)
    torch.testing.assert_close(g.ui.to_dense(), ui)
    torch.testing.assert_close(g.iu.to_dense(), iu)
    torch.testing.assert_close(g.ui_t.to_dense(), ui.t())
    torch.testing.assert_close(g.iu_t.to_dense(), iu.t())
    assert g.ui.to_dense()[0, 1] == pytest.approx(2 / 3)  # duplicate edge (0, item 1) counts twice
    assert g.iu.to_dense()[4].abs().sum() == 0  # isolated item aggregates nothing
    assert g.item_has_user.flatten().tolist() == [1, 1, 1, 1, 0]
    assert g.edge_index.shape == (2, 2 * user.numel())


def test_item_features_are_two_mean_bags_summed():
    m, g = model(), tiny_graph()
    x = m.item_features(g)
    bw, cw = m.brand_embedding.weight, m.category_embedding.weight
    torch.testing.assert_close(x[0], bw[0] + (cw[0] + cw[1]) / 2)
    torch.testing.assert_close(x[1], bw.new_zeros(D))  # no brand, no category
    torch.testing.assert_close(x[2], bw[1] + cw[2])
    torch.testing.assert_close(x[3], cw[0])  # no brand
    torch.testing.assert_close(x[4], bw[0])  # no category


def reference(m, g, final_relu=False, last_norm=True):
    """Written out with PyG SAGEConv on edge_index and the model's own modules."""
    xu = m.user_embedding.weight.expand(g.num_users, -1)
    x = torch.cat([xu, m.item_features(g)])
    for k in range(m.num_layers):
        x = m.convs[k](x, g.edge_index)
        if k < m.num_layers - 1 or last_norm:
            x = m.norms[k](x)
        if k < m.num_layers - 1 or final_relu:
            x = F.relu(x)
    return x


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_fast_paths_equal_plain_sageconv_including_gradients(num_layers):
    g = tiny_graph()
    outs, grads = {}, {}
    for impl in ["fast", "spmm", "pyg"]:
        m = model(num_layers)
        u, i = m(g, impl=impl)
        out = torch.cat([u, i])
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outs[impl] = out.detach()
        grads[impl] = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    ref = reference(model(num_layers), g).detach()
    for impl in ["fast", "spmm", "pyg"]:
        torch.testing.assert_close(outs[impl], ref, atol=1e-5, rtol=1e-4)
        assert grads[impl].keys() == grads["pyg"].keys()
        for n in grads["pyg"]:
            torch.testing.assert_close(grads[impl][n], grads["pyg"][n], atol=1e-5, rtol=1e-4)


def test_batchnorm_every_layer_relu_between_only():
    g = tiny_graph()
    m = model(2)
    u, i = m(g)
    out = torch.cat([u, i]).detach()
    torch.testing.assert_close(out, reference(m, g).detach(), atol=1e-5, rtol=1e-4)
    assert (out < 0).any()  # no ReLU after the last layer
    assert not torch.allclose(out, reference(m, g, final_relu=True).detach(), atol=1e-3)
    assert not torch.allclose(out, reference(m, g, last_norm=False).detach(), atol=1e-3)
    # BatchNorm (train mode, gamma=1, beta=0) after the last layer: standardised columns.
    torch.testing.assert_close(out.mean(0), torch.zeros(D), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(D), atol=1e-3, rtol=0)


def test_inductive_new_user_needs_no_new_parameters():
    m = model(2)
    n_params = sum(p.numel() for p in m.parameters())
    m(tiny_graph())  # a training step populates BatchNorm running stats
    m.eval()
    u0, _ = m(tiny_graph())
    user, item, nu, ni, brand, ptr, cats = tiny_inputs()
    # user 5 is new and copies user 2's neighbourhood; user 6 is new with one edge
    user2 = torch.cat([user, torch.tensor([5, 5, 5, 6])])
    item2 = torch.cat([item, torch.tensor([0, 2, 3, 4])])
    g2 = VersionGraph.build(user2, item2, nu + 2, ni, brand, ptr, cats)
    with torch.no_grad():
        u2, i2 = m(g2)
        u2_ref, _ = m(g2, impl="pyg")
    assert sum(p.numel() for p in m.parameters()) == n_params
    assert u2.shape == (7, D) and i2.shape == (5, D)
    torch.testing.assert_close(u2, u2_ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(u2[5], u2[2], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(u2[5], u0[2], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(u2[6], u2[2], atol=1e-3)


def test_seeded_init_is_deterministic_and_leaves_global_rng():
    state = torch.get_rng_state()
    a, b = model(seed=3).state_dict(), model(seed=3).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = model(seed=4).state_dict()
    assert not torch.equal(a["convs.0.lin_l.weight"], c["convs.0.lin_l.weight"])


def test_rejects_bad_inputs():
    user, item, nu, ni, brand, ptr, cats = tiny_inputs()
    with pytest.raises(ValueError, match="outside"):
        VersionGraph.build(user, item, 3, ni, brand, ptr, cats)
    with pytest.raises(ValueError, match="impl"):
        model()(tiny_graph(), impl="dense")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = tiny_graph()
    m = model(2)
    u, i = m(g)
    m.cuda()
    uc, ic = m(g.to("cuda"))
    torch.testing.assert_close(uc.cpu(), u, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ic.cpu(), i, atol=1e-4, rtol=1e-4)

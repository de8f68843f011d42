"""The nine rows of the BC paper's Table 3, and our extra rows, as one :class:`Method` abstraction.

Each method says how version ``k`` gets its model ``M_k`` and backward transformation ``B_k``
(official strategy names of snap-stanford/bc-emb ``generate_embeddings.py`` in brackets):

==================  ==========  ===============================================================
name                kind        what happens at version k >= 1
==================  ==========  ===============================================================
Non-BC [nobc]       independent train ``M_k`` alone; no ``B_k``
Post-Lin-SLoss      posthoc     Non-BC's ``M_k`` (same cache entries), then fit a linear ``B_k``
Post-Lin-MLoss      posthoc     as above with the multi-step loss through frozen ``B_1..B_{k-1}``
Post-LS             posthoc     not in the paper: Non-BC's ``M_k``, closed-form (ridge) LS ``B_k``
Post-Procrustes     posthoc     not in the paper: Non-BC's ``M_k``, semi-orthogonal SVD ``B_k``
Joint-NoTrans       joint       train ``M_k`` with its first ``d_{k-1}`` dims aligned to ``M_{k-1}``
Joint-Lin-SLoss     joint       train ``M_k`` and a linear ``B_k`` jointly, single-step loss
BC-Aligner          joint       Joint-Lin-MLoss: joint, multi-step loss (paper Eq. 10)
BC-Aligner-MLP      joint       as BC-Aligner with a residual-MLP ``B_k`` (not in the paper)
Fix-M0 [fix-m0]     fixed       ``M_0`` applied to ``G_k`` (inductive), never updated
Finetune-M0         finetune    continue ``M_{k-1}`` (``M_0``'s architecture) on ``G_k``
Keep-All            derived     not a run: intended task from Non-BC, ``z_0`` from Fix-M0
==================  ==========  ===============================================================

Version 0 is the same ``M_0`` for every method (one shared cache entry). The backward-compatible
``z~_0`` of a version is ``B_1 o ... o B_k (z_k)`` for the methods with a ``B``; for Non-BC it is
the first ``d_0`` dims of ``z_k`` (the official cut before the consumers and in the alignment
error), for Finetune-M0 ``z_k`` itself (it keeps ``d_0``), for Fix-M0 and Keep-All the true
``z_0 = M_0(G_k)``.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "METHODS", "METHOD_NAMES", "get_method"]

KINDS = ("independent", "posthoc", "joint", "fixed", "finetune", "derived")
SOLVERS = ("lstsq", "procrustes")


@dataclass(frozen=True)
class Method:
    """One row of Table 3.

    Attributes:
        name: the paper's name (``"BC-Aligner"``).
        slug: the official strategy name (``"joint-linear-mloss"``), also accepted by
            :func:`get_method`.
        kind: one of ``independent``, ``posthoc``, ``joint``, ``fixed``, ``finetune``, ``derived``.
        transform: ``"linear"``, ``"notrans"``, ``"mlp"`` or ``None`` (no ``B_k``).
        loss: ``"single"``, ``"multi"`` or ``None``: the alignment loss of ``B_k``.
        intended_from: the method whose ``M_k`` gives the intended-task numbers.
        z0_from: the method whose embeddings give ``z~_0`` (Keep-All: Fix-M0).
        description: one line for tables.
        solver: post-hoc only: ``None`` (Adam, :mod:`.posthoc`) or a closed form of
            :mod:`.closed_form`, ``"lstsq"`` (Post-LS) or ``"procrustes"`` (Post-Procrustes).
    """

    name: str
    slug: str
    kind: str
    transform: str | None = None
    loss: str | None = None
    intended_from: str | None = None
    z0_from: str | None = None
    description: str = ""
    solver: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.solver not in (None, *SOLVERS) or (self.solver and self.kind != "posthoc"):
            raise ValueError(f"solver must be None or, for a posthoc method, one of {SOLVERS}; "
                             f"got {self.solver!r} ({self.kind})")

    @property
    def trains_gnn(self) -> bool:
        """Whether the method trains its own ``M_k`` for ``k >= 1``."""
        return self.kind in ("independent", "joint", "finetune")

    @property
    def has_backward(self) -> bool:
        """Whether the method learns or uses a ``B_k``."""
        return self.transform is not None

    @property
    def multi_step(self) -> bool:
        """Whether ``B_k`` is trained with the multi-step loss (Eq. 10)."""
        return self.loss == "multi"

    def key_fields(self, config) -> dict:
        """The config fields, beyond the GNN training fields, that this method's versions depend on.

        Args:
            config: a :class:`~embcompat.config.bc.BCTrainConfig`.
        """
        out: dict = {"method": self.slug}
        if self.kind == "joint":
            out.update(transform=self.transform, loss=self.loss, lam=config.lam,
                       select_start=config.select_start)
            if self.transform in ("linear", "mlp"):
                out["lr_trans"] = config.lr_trans
            if self.transform == "mlp":
                out["mlp_hidden"] = config.mlp_hidden
        elif self.solver is not None:  # closed form: no epochs, lr or batches
            out["solver"] = self.solver
            if self.solver == "lstsq":
                out["ridge"] = config.posthoc_ridge
        elif self.kind == "posthoc":
            out.update(loss=self.loss, epochs=config.posthoc_epochs, lr_trans=config.lr_trans,
                       select_after=config.posthoc_select_after,
                       eval_every=config.posthoc_eval_every, batch_size=config.batch_size)
        elif self.kind == "finetune":
            out.update(finetune_epochs=config.finetune_epochs)
        return out


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("Non-BC", "nobc", "independent", intended_from="Non-BC",
           description="M_k trained alone; z~_0 = first d_0 dims of z_k"),
    Method("Post-Lin-SLoss", "posthoc-linear-sloss", "posthoc", "linear", "single",
           intended_from="Non-BC", description="Non-BC's M_k, then a linear B_k fitted post hoc"),
    Method("Post-Lin-MLoss", "posthoc-linear-mloss", "posthoc", "linear", "multi",
           intended_from="Non-BC", description="as Post-Lin-SLoss, multi-step alignment loss"),
    Method("Post-LS", "posthoc-ls", "posthoc", "linear", "single", intended_from="Non-BC",
           description="not in the paper: Non-BC's M_k, closed-form least-squares B_k",
           solver="lstsq"),
    Method("Post-Procrustes", "posthoc-procrustes", "posthoc", "linear", "single",
           intended_from="Non-BC", solver="procrustes",
           description="not in the paper: Non-BC's M_k, semi-orthogonal Procrustes B_k"),
    Method("Joint-NoTrans", "joint-notrans-sloss", "joint", "notrans", "single",
           intended_from="Joint-NoTrans", description="first d_{k-1} dims aligned to M_{k-1}"),
    Method("Joint-Lin-SLoss", "joint-linear-sloss", "joint", "linear", "single",
           intended_from="Joint-Lin-SLoss", description="M_k and linear B_k trained jointly"),
    Method("BC-Aligner", "joint-linear-mloss", "joint", "linear", "multi",
           intended_from="BC-Aligner", description="Joint-Lin-MLoss: joint, multi-step loss"),
    Method("BC-Aligner-MLP", "joint-mlp-mloss", "joint", "mlp", "multi",
           intended_from="BC-Aligner-MLP",
           description="BC-Aligner with B_k = W z + W_2 relu(W_1 z + b_1) (not in the paper)"),
    Method("Fix-M0", "fix-m0", "fixed", intended_from="Fix-M0",
           description="M_0 never updated, applied to every G_k"),
    Method("Finetune-M0", "finetune-m0", "finetune", intended_from="Finetune-M0",
           description="M_0 fine-tuned on every G_k (optimizer reset)"),
    Method("Keep-All", "keep-all", "derived", intended_from="Non-BC", z0_from="Fix-M0",
           description="not a run: intended from Non-BC, unintended from the true z_0"),
)}
METHOD_NAMES = tuple(METHODS)
_BY_KEY = {**{n.lower(): m for n, m in METHODS.items()},
           **{m.slug: m for m in METHODS.values()}, "joint-lin-mloss": METHODS["BC-Aligner"]}


def get_method(name: str | Method) -> Method:
    """Look a method up by its paper name or official slug (case-insensitive).

    Raises:
        ValueError: an unknown name, listing the allowed names.
    """
    if isinstance(name, Method):
        return name
    m = _BY_KEY.get(str(name).lower())
    if m is None:
        raise ValueError(f"unknown BC method {name!r}; allowed: {', '.join(METHOD_NAMES)} "
                         f"(or the official slugs {', '.join(x.slug for x in METHODS.values())})")
    return m

"""Long-term dependencies: the Jacobians ∂h(T)/∂h(t), their norms, the lecture's bound and the eigenvalue view.

Every ∇h(t) L of BPTT is a sum of terms (∂h(T)/∂h(t))ᵀ ∇h(T) L: how much the
loss at a late step can teach an early step is set by the Jacobian of the
state over the gap.  For the vanilla RNN, in the lecture's column vectors,

    ∂h(k+1)/∂h(k) = D(k+1) Wᵀ,           D(k+1) = diag(φ'(a(k+1))) = diag(1 − h(k+1)²) for tanh
    ∂h(T)/∂h(t)   = ∏_{k=t}^{T−1} D(k+1) Wᵀ      (the factor for k = T−1 on the left)
    ‖∂h(T)/∂h(t)‖ ≤ ∏_{k=t}^{T−1} σmax(D(k+1)) σmax(W)               (‖AB‖ ≤ ‖A‖‖B‖, spectral norms)

Since |tanh'| ≤ 1, σmax(D) ≤ 1, so if σmax(W) < 1 the gradient from T to t
shrinks at least geometrically: it *vanishes*.  Without the nonlinearity,
h(t) = Wᵀ h(t−1) = (Wᵀ)ᵗ h(0), and for a symmetric W, written Wᵀ = Qᵀ Λ Q with Q
orthogonal (rows: eigenvectors),

    h(t) = Qᵀ Λᵗ Q h(0)

so the component of h(0) along eigenvector i is multiplied by λ_iᵗ: it dies
out if |λ_i| < 1 and blows up if |λ_i| > 1.  The same powers multiply the
gradients: ‖∂h(T)/∂h(t)‖ = ρ(W)^{T−t} exactly, with ρ the spectral radius.
``spectral_radius_sweep`` shows both regimes.

For gated cells the same products are taken over the whole state s = (h, c)
(``state_jacobians``), read off the cell's one-step backward one unit vector at a time.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import rnn, unroll
from .unroll import Cache


def step_jacobians(cache: Cache, n: int = 0) -> np.ndarray:
    """(T, S, S): entry t−1 is ∂s(t)/∂s(t−1) for sequence n (column convention: rows = outputs).

    For the vanilla RNN (s = h) this is D(t) Wᵀ, written out; for the other
    cells, s = (h, c) or h and the rows come from the one-step backward.
    """
    T = len(cache.steps)
    if cache.cell.kind == "rnn":
        d = rnn.dphi(cache.h[:, n], cache.cell.options["nonlinearity"])  # (T, H): the diagonals of D(t)
        return d[:, :, None] * cache.params["W"].T[None]
    H = cache.state0[0].shape[1]
    S = len(cache.state0) * H
    N = cache.state0[0].shape[0]
    J = np.zeros((T, S, S))
    for t in range(T):
        for u in range(S):  # row u of ∂s(t)/∂s(t−1) is the backward of the unit vector e_u
            unit = np.zeros((N, S))
            unit[n, u] = 1.0
            dstate = tuple(unit[:, k * H:(k + 1) * H] for k in range(len(cache.state0)))
            dprev, _, _, _ = cache.cell.step_backward(dstate, cache.steps[t])
            J[t, u] = np.concatenate([d[n] for d in dprev])
    return J


def hidden_jacobians(cache: Cache, n: int = 0) -> np.ndarray:
    """(T + 1, S, S): entry t is ∂s(T)/∂s(t) = ∏_{k=t}^{T−1} ∂s(k+1)/∂s(k) (entry T is the identity)."""
    J = step_jacobians(cache, n)
    T, S = J.shape[0], J.shape[1]
    out = np.zeros((T + 1, S, S))
    out[T] = np.eye(S)
    for t in reversed(range(T)):
        out[t] = out[t + 1] @ J[t]  # ∂s(T)/∂s(t) = ∂s(T)/∂s(t+1) · ∂s(t+1)/∂s(t)
    return out


def jacobian_norms(cache: Cache, n: int = 0) -> np.ndarray:
    """(T + 1,): the spectral norm ‖∂s(T)/∂s(t)‖₂ for t = 0 … T."""
    return np.array([np.linalg.norm(J, 2) for J in hidden_jacobians(cache, n)])


def jacobian_bound(cache: Cache, n: int = 0) -> np.ndarray:
    """(T + 1,): the lecture's bound ∏_{k=t}^{T−1} σmax(D(k+1)) σmax(W) for t = 0 … T (vanilla RNN only)."""
    if cache.cell.kind != "rnn":
        raise ValueError(f"jacobian_bound: the bound σmax(D) σmax(W) is for the vanilla RNN, not {cache.cell.name}")
    d = rnn.dphi(cache.h[:, n], cache.cell.options["nonlinearity"])
    sigma_w = np.linalg.norm(cache.params["W"], 2)
    factors = np.abs(d).max(axis=1) * sigma_w  # σmax of a diagonal matrix is its largest |entry|
    T = len(factors)
    bound = np.ones(T + 1)
    for t in reversed(range(T)):
        bound[t] = bound[t + 1] * factors[t]
    return bound


# --------------------------------------------------------------------------- the eigenvalue view


def with_spectral_radius(H: int, rho: float, rng=None, symmetric: bool = True) -> np.ndarray:
    """A random (H, H) W with spectral radius ρ; symmetric W = Qᵀ Λ Q (so its eigenvectors are orthogonal)."""
    rng = np.random.default_rng(rng)
    if symmetric:
        Q, _ = np.linalg.qr(rng.standard_normal((H, H)))
        lam = rng.uniform(-1, 1, H)
        lam *= rho / np.abs(lam).max()
        return Q.T @ np.diag(lam) @ Q
    W = rng.standard_normal((H, H))
    return W * (rho / np.abs(np.linalg.eigvals(W)).max())


@dataclasses.dataclass
class EigenView:
    """h(t) = Qᵀ Λᵗ Q h(0) for the linear recurrence h(t) = Wᵀ h(t−1), symmetric W.

    eigenvalues (H,) Λ; Q (H, H) (rows: eigenvectors); h (T + 1, H) by iterating Wᵀ;
    h_eigen (T + 1, H) by the formula; components (T + 1, H): Λᵗ Q h(0), the
    coordinates of h(t) along the eigenvectors (each one λ_iᵗ times its start).
    """

    eigenvalues: np.ndarray
    Q: np.ndarray
    h: np.ndarray
    h_eigen: np.ndarray
    components: np.ndarray

    @property
    def spectral_radius(self) -> float:
        return float(np.abs(self.eigenvalues).max())


def eigen_view(W, h0, T: int) -> EigenView:
    """Run h(t) = Wᵀ h(t−1) two ways, by iteration and through the eigendecomposition of a symmetric W."""
    W, h0 = np.asarray(W, dtype=np.float64), np.asarray(h0, dtype=np.float64)
    if not np.allclose(W, W.T):
        raise ValueError("eigen_view: the form h(t) = Qᵀ Λᵗ Q h(0) with orthogonal Q needs a symmetric W")
    lam, vecs = np.linalg.eigh(W.T)  # Wᵀ = vecs Λ vecsᵀ, i.e. Q = vecsᵀ
    Q = vecs.T
    h = [h0]
    for _ in range(T):
        h.append(W.T @ h[-1])
    powers = lam[None, :] ** np.arange(T + 1)[:, None]  # λ_iᵗ
    components = powers * (Q @ h0)[None, :]
    return EigenView(lam, Q, np.array(h), components @ Q, components)


def spectral_radius_sweep(rhos=(0.5, 0.9, 1.0, 1.1, 1.5), H=8, T=30, nonlinearity="identity", seed=0) -> dict:
    """{ρ: (T + 1,) norms ‖∂h(T)/∂h(t)‖₂} for an RNN whose symmetric W has spectral radius ρ.

    With ``nonlinearity='identity'`` (linear RNN) the norms are exactly ρ^{T−t}:
    vanishing for ρ < 1, exploding for ρ > 1.  With 'tanh' the saturating
    derivative only makes them smaller (the bound ≤ ρ^{T−t} for symmetric W).
    """
    rng = np.random.default_rng(seed)
    D, C = 2, 2
    x = rng.standard_normal((T, 1, D))
    y = rng.integers(0, C, (T, 1))
    out = {}
    for rho in rhos:
        p = dict(U=rng.standard_normal((D, H)) * 0.5, W=with_spectral_radius(H, rho, rng), b=np.zeros(H),
                 V=np.zeros((H, C)), c=np.zeros(C))
        cache = unroll.forward(rnn.cell(nonlinearity), x, y, p)
        out[rho] = jacobian_norms(cache)
    return out

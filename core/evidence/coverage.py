"""Noisy-OR anchor coverage, class utility and its exact marginals (docs/method.md §3.6–3.7), in numpy.

For gates ``π`` (N,) in [0, 1] and anchor responses ``r`` (N, M) in [0, 1]::

    v_m(π)   = 1 − Π_i (1 − π_i r_im)                       # coverage of anchor m
    U_c(π)   = Σ_m α_cm v_m(π)                              # class utility
    ∂U_c/∂π_i = Σ_m α_cm r_im Π_{j≠i} (1 − π_j r_jm)          # exact marginal

Everything is computed in log space: ``log(1 − v_m) = Σ_i log1p(−x_im)`` with ``x = π r`` clamped to
``≤ 1 − 1e-6`` (:data:`CLAMP`), so a response of exactly 1 never produces ``log(0)``. The
leave-one-out product of the marginal is ``exp(L_m − log1p(−x_im))``: because the *clamped* term is
subtracted that was added, the divide-out is exact even where ``π_i r_im = 1`` (the naive
``Π / (1 − x)`` divides by zero there).

On a hard set ``S`` (``π = 1_S``) and ``i ∉ S`` the marginal equals the discrete gain
``U_c(S ∪ {i}) − U_c(S) = Σ_m α_cm r_im ρ_m`` with ``ρ_m = Π_{j∈S}(1 − r_jm)``
(:func:`set_gains`), one matrix–vector product for every candidate.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CLAMP",
    "coverage",
    "log_uncovered",
    "marginals",
    "set_coverage",
    "set_gains",
    "utility",
    "weighted_sum",
]

CLAMP = 1.0 - 1e-6


def _as_inputs(gates: np.ndarray, responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(responses, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"responses must be (N, M), got shape {r.shape}")
    p = np.asarray(gates, dtype=np.float64).reshape(-1)
    if p.shape[0] != r.shape[0]:
        raise ValueError(f"gates ({p.shape[0]},) and responses {r.shape} disagree on N")
    return p, r


def _log1m(x: np.ndarray) -> np.ndarray:
    """``log1p(−min(x, CLAMP))`` elementwise, float64."""
    return np.log1p(-np.minimum(x, CLAMP))


def log_uncovered(gates: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """``log(1 − v_m) = Σ_i log1p(−π_i r_im)`` (clamped).

    Parameters
    ----------
    gates
        (N,) float gates in [0, 1].
    responses
        (N, M) float anchor responses in [0, 1].

    Returns
    -------
    np.ndarray
        (M,) float64, ≤ 0.
    """
    p, r = _as_inputs(gates, responses)
    return _log1m(p[:, None] * r).sum(axis=0)


def coverage(gates: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Noisy-OR coverage ``v_m(π)``: (N,) gates, (N, M) responses -> (M,) float64 in [0, 1]."""
    return -np.expm1(log_uncovered(gates, responses))


def set_coverage(indices: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Coverage of a hard set: (K,) int indices into (N, M) responses -> (M,) float64."""
    r = np.asarray(responses, dtype=np.float64)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    return -np.expm1(_log1m(r[idx]).sum(axis=0))


def _weights(class_weights: np.ndarray, m: int) -> np.ndarray:
    a = np.asarray(class_weights, dtype=np.float64)
    if a.shape[-1] != m or a.ndim not in (1, 2):
        raise ValueError(f"class_weights must be (M,) or (C, M) with M = {m}, got {a.shape}")
    return a


def utility(gates: np.ndarray, responses: np.ndarray, class_weights: np.ndarray) -> np.ndarray | float:
    """Class utility ``U_c(π) = Σ_m α_cm v_m(π)``.

    Parameters
    ----------
    gates
        (N,) gates. responses: (N, M). class_weights: (M,) -> float, or (C, M) -> (C,) float64.
    """
    v = coverage(gates, responses)
    a = _weights(class_weights, v.shape[0])
    out = a @ v
    return float(out) if a.ndim == 1 else out


def marginals(gates: np.ndarray, responses: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """Exact marginals ``∂U_c/∂π_i = Σ_m α_cm r_im Π_{j≠i}(1 − π_j r_jm)``.

    Parameters
    ----------
    gates
        (N,) gates in [0, 1].
    responses
        (N, M) responses in [0, 1].
    class_weights
        (M,) or (C, M) non-negative weights α.

    Returns
    -------
    np.ndarray
        (N,) float64 for (M,) weights, (N, C) for (C, M) weights.
    """
    p, r = _as_inputs(gates, responses)
    a = _weights(class_weights, r.shape[1])
    terms = _log1m(p[:, None] * r)  # (N, M)
    loo = np.exp(terms.sum(axis=0)[None, :] - terms)  # (N, M) Π_{j≠i}(1 − x_jm)
    return (r * loo) @ a.T


def weighted_sum(r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``r @ w`` for (K, M) ``r`` and (M,) ``w`` as M elementwise multiply-adds, float64 (K,).

    Each row is summed in the same fixed order whatever K is, so a gain computed for one row
    equals, bit for bit, the gain computed for that row inside any larger batch (BLAS ``gemv``
    does not promise that). The fast and the naive greedy both use it, so they pick identical
    patches even on near-ties.
    """
    out = r[:, 0] * w[0]
    for m in range(1, r.shape[1]):
        out = out + r[:, m] * w[m]
    return out


def set_gains(indices: np.ndarray, responses: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """Discrete gains ``U(S ∪ {i}) − U(S) = Σ_m α_m r_im ρ_m`` of every patch for a hard set S.

    Parameters
    ----------
    indices
        (K,) int64 members of S.
    responses
        (N, M) responses. class_weights: (M,) α for one class.

    Returns
    -------
    np.ndarray
        (N,) float64 gains; members of S get 0.
    """
    r = np.asarray(responses, dtype=np.float64)
    a = _weights(class_weights, r.shape[1])
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    rho = np.exp(_log1m(r[idx]).sum(axis=0))
    g = weighted_sum(r, a * rho)
    g[idx] = 0.0
    return g

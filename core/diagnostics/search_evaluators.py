"""Keep-only and remove outputs of many patch subsets, for the evidence search (docs/evidence_search.md).

Two evaluators with the same interface, both on an :class:`InterventionEngine`'s bag (its gates,
for a GCE model, held at the full-bag values, as every engine intervention does):

* :class:`CachedEvaluator` (attention-pooling hosts): from the engine's cache -- float64
  ``w_i = exp(z_i − max z)`` (N,) and embeddings ``e`` (N, H). Keep-only S is
  ``head(Σ_S w_i e_i / Σ_S w_i)``, removal ``head((Σ_X − Σ_S) / (W_X − W_S))``: exact attention
  pooling, no approximation. All prefixes of a ranking come from one cumulative sum, O(K · H) for
  K prefixes plus one batched ``head``. Rows where the float64 sums would lose precision (the
  removed set holds more than 1 − 10⁻⁶ of the attention mass, or the kept set's weights underflow)
  are recomputed with the engine's masked softmax.
* :class:`ForwardEvaluator` (every host; the slow reference): one real host forward per bag,
  ``host(x[keep], coords[keep], gate=π[keep])``; the empty bag is the engine's one all-zero patch.

Both count the bag predictions they make in ``n_evaluations`` (one keep-only + one removal = 2).
"""

from __future__ import annotations

import numpy as np
import torch

from core.diagnostics.interventions import InterventionEngine

__all__ = ["CachedEvaluator", "ForwardEvaluator", "make_evaluator"]

_BLOCK = 512  # prefixes per cumulative-sum block


class ForwardEvaluator:
    """Real forwards, one per bag (any host). ``outputs`` are (B, C) float64 raw host outputs."""

    kind = "forward"

    def __init__(self, engine: InterventionEngine) -> None:
        self.engine = engine
        self.n_evaluations = 0

    def _one(self, keep: np.ndarray) -> np.ndarray:
        eng = self.engine
        self.n_evaluations += 1
        if keep.size == 0:
            return eng.empty_output()
        t = torch.from_numpy(np.ascontiguousarray(keep, dtype=np.int64)).to(eng.x.device)
        with torch.inference_mode():
            out = eng.host(eng.x[t], None if eng.coords is None else eng.coords[t],
                           gate=None if eng.gates is None else eng.gates[t]).output
        return out.cpu().double().numpy().reshape(-1)

    def _complement(self, s: np.ndarray) -> np.ndarray:
        mask = np.ones(self.engine.n, dtype=bool)
        mask[s] = False
        return np.flatnonzero(mask)

    def sets(self, subsets: list[np.ndarray], *, removal: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Keep-only outputs (B, C) of each subset and (``removal``) removal outputs (B, C)."""
        keep = np.stack([self._one(np.sort(s)) for s in subsets]) if subsets else np.zeros((0, self._c()))
        if not removal:
            return keep, None
        rm = np.stack([self._one(self._complement(s)) for s in subsets]) if subsets else np.zeros((0, self._c()))
        return keep, rm

    def prefixes(self, order: np.ndarray, lo: int, hi: int, *, removal: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Outputs of the prefixes ``order[:k]`` for k = lo + 1 .. hi ((hi − lo, C) each)."""
        return self.sets([order[:k] for k in range(lo + 1, hi + 1)], removal=removal)

    def _c(self) -> int:
        return int(self.engine.output_before.shape[0])

    def start(self, subset: np.ndarray):
        """State for :meth:`without` (drop members one at a time, as the pruning pass does)."""
        return np.asarray(subset, dtype=np.int64)

    def without(self, state, i: int, *, removal: bool = True):
        """Outputs ((1, C), (1, C) or None) of the state's subset minus patch ``i``, and the new state."""
        trial = state[state != i]
        keep, rm = self.sets([trial], removal=removal)
        return keep, rm, trial

    @staticmethod
    def members(state) -> np.ndarray:
        """The state's subset, (K,) int64."""
        return state

    def grow(self, pairs: list, *, removal: bool = True):
        """Outputs of each ``(state, i)``'s subset plus patch ``i`` ((B, C) each) and the B new states."""
        subsets = [np.append(self.members(st), i) for st, i in pairs]
        keep, rm = self.sets(subsets, removal=removal)
        return keep, rm, subsets


class CachedEvaluator(ForwardEvaluator):
    """Exact evaluation from the engine's cache (attention-pooling hosts only).

    Holds ``w_i e_i`` as an (N, H) float64 host array (8·N·H bytes, e.g. 20 MB for 10k patches at
    H = 256) when that fits in ``max_bytes``, else recomputes the rows it needs.
    """

    kind = "cache"

    def __init__(self, engine: InterventionEngine, max_bytes: int = 1 << 30) -> None:
        if not engine.fast:
            raise ValueError(f"host {engine.host.name!r} has no attention-pooling cache")
        super().__init__(engine)
        w, total, s, _ = engine._totals()  # (N,) float64, (), (H,), ()
        self.w_total, self.s_total = float(total), s.cpu().numpy()  # W_X, Σ_X w_i e_i (H,)
        self.w_np = w.cpu().numpy()  # (N,)
        self._we = None
        if 8 * engine.n * engine.e.shape[1] <= max_bytes:
            with torch.inference_mode():
                self._we = self.w_np[:, None] * engine.e.double().cpu().numpy()  # (N, H)

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int64)).to(self.engine.x.device)
        with torch.inference_mode():
            e = self.engine.e[t].double().cpu().numpy()  # (K, H)
        return self.w_np[idx, None] * e

    def _weighted(self, idx: np.ndarray) -> np.ndarray:
        """(K, H) float64 ``w_i e_i`` of patches ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        return self._we[idx] if self._we is not None else self._rows(idx)

    def _head(self, sums: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(B, H) float64 weighted sums and (B,) total weights -> (B, C) float64 outputs."""
        eng = self.engine
        dtype = np.float32 if eng.e.dtype == torch.float32 else np.float64
        h = torch.from_numpy((sums / weights[:, None]).astype(dtype)).to(device=eng.e.device, dtype=eng.e.dtype)
        with torch.inference_mode():
            out = eng.host.head(h)
        return out.cpu().double().numpy().reshape(len(weights), -1)

    def _from_sums(self, ws: np.ndarray, vs: np.ndarray, subsets_fn, removal: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Outputs from the kept sets' weight sums ``ws`` (B,) and weighted sums ``vs`` (B, H);
        ``subsets_fn(rows)`` gives the index sets of rows that need the engine's masked softmax."""
        eng = self.engine
        b = ws.shape[0]
        self.n_evaluations += b * (2 if removal else 1)
        keep = np.empty((b, self._c()))
        ok = ws > 1e-300
        if ok.any():
            keep[ok] = self._head(vs[ok], ws[ok])
        bad = np.flatnonzero(~ok)
        if bad.size:  # underflowed weights (or empty sets): the engine's exact masked softmax
            keep[bad] = eng.keep_only_many(subsets_fn(bad)).outputs
        if not removal:
            return keep, None
        rest_w = self.w_total - ws
        rm = np.empty((b, self._c()))
        ok = rest_w > 1e-6 * self.w_total
        if ok.any():
            rm[ok] = self._head(self.s_total[None, :] - vs[ok], rest_w[ok])
        bad = np.flatnonzero(~ok)
        if bad.size:  # the removed set holds nearly all attention: recompute, no cancellation
            rm[bad] = eng.remove_many(subsets_fn(bad)).outputs
        return keep, rm

    def sets(self, subsets: list[np.ndarray], *, removal: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        if not subsets:
            return np.zeros((0, self._c())), (np.zeros((0, self._c())) if removal else None)
        ws = np.array([self.w_np[s].sum() for s in subsets])
        vs = np.stack([self._weighted(s).sum(0) for s in subsets])
        return self._from_sums(ws, vs, lambda rows: [subsets[i] for i in rows], removal)

    def start(self, subset: np.ndarray):
        idx = np.asarray(subset, dtype=np.int64)
        return idx, float(self.w_np[idx].sum()), self._weighted(idx).sum(0)

    @staticmethod
    def members(state) -> np.ndarray:
        return state[0]

    def without_each(self, state, drops: np.ndarray, *, removal: bool = True):
        """Outputs ((B, C) each) of the state's subset minus each one of ``drops`` (B,), in O(B · H)."""
        idx, w, v = state
        drops = np.asarray(drops, dtype=np.int64)
        ws = w - self.w_np[drops]
        vs = v[None, :] - self._weighted(drops)
        return self._from_sums(ws, vs, lambda rows: [idx[idx != drops[r]] for r in rows], removal)

    def without_cumulative(self, state, drops: np.ndarray, *, removal: bool = True):
        """Outputs ((B, C) each) of the state's subset minus ``drops[:t]`` for t = 1..B, in O(B · H)."""
        idx, w, v = state
        drops = np.asarray(drops, dtype=np.int64)
        ws = w - np.cumsum(self.w_np[drops])
        vs = v[None, :] - np.cumsum(self._weighted(drops), axis=0)
        return self._from_sums(ws, vs, lambda rows: [np.setdiff1d(idx, drops[: r + 1]) for r in rows], removal)

    def drop(self, state, drops):
        """The state without patches ``drops`` (int or (K,) int)."""
        idx, w, v = state
        d = np.atleast_1d(np.asarray(drops, dtype=np.int64))
        return np.setdiff1d(idx, d), w - float(self.w_np[d].sum()), v - self._weighted(d).sum(0)

    def grow(self, pairs: list, *, removal: bool = True):
        """O(B · H): each parent's kept sums plus patch ``i``'s terms."""
        idx = np.array([i for _, i in pairs], dtype=np.int64)
        ws = np.array([st[1] for st, _ in pairs]) + self.w_np[idx]
        vs = np.stack([st[2] for st, _ in pairs]) + self._weighted(idx)
        subsets = [np.append(st[0], i) for st, i in pairs]
        keep, rm = self._from_sums(ws, vs, lambda rows: [subsets[r] for r in rows], removal)
        return keep, rm, [(subsets[b], float(ws[b]), vs[b]) for b in range(len(pairs))]

    def prefixes(self, order: np.ndarray, lo: int, hi: int, *, removal: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        keeps, rms = [], []
        carry_w = float(self.w_np[order[:lo]].sum())
        carry_v = self._weighted(order[:lo]).sum(0)
        for a in range(lo, hi, _BLOCK):
            b = min(hi, a + _BLOCK)
            block = order[a:b]
            ws = carry_w + np.cumsum(self.w_np[block])  # (b − a,)
            vs = carry_v[None, :] + np.cumsum(self._weighted(block), axis=0)  # (b − a, H)
            k, r = self._from_sums(ws, vs, lambda rows, a=a: [order[:a + 1 + i] for i in rows], removal)
            keeps.append(k)
            rms.append(r)
            carry_w, carry_v = float(ws[-1]), vs[-1]
        keep = np.concatenate(keeps) if keeps else np.zeros((0, self._c()))
        if not removal:
            return keep, None
        return keep, (np.concatenate(rms) if rms else np.zeros((0, self._c())))


def make_evaluator(engine: InterventionEngine, path: str = "auto") -> ForwardEvaluator:
    """``"cache"`` (attention pooling only), ``"forward"``, or ``"auto"`` (the cache where the host has one)."""
    if path == "forward" or (path == "auto" and not engine.fast):
        return ForwardEvaluator(engine)
    if path in ("auto", "cache"):
        return CachedEvaluator(engine)
    raise ValueError(f"unknown evaluation path {path!r} (use 'auto', 'cache' or 'forward')")

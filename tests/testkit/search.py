"""A hand-built ABMIL whose evidence is known, shared by the evidence-search tests.

Features are 2-d: background patches ≈ (1, 0), evidence patches ≈ (0, 1). The host embeds e = x
(identity + ReLU), gives evidence an attention logit ≈ 7.2·tanh(3)·σ(20) ≈ 7.2 and background ≈ 0,
and predicts ``logit_1 = 8 · h_ev − 2`` (class 0 logit 0). With 100 background and 5 evidence
patches Φ(X) ≈ 0.997 (class 1); any single evidence patch kept alone gives Φ ≈ 0.9975 (sufficient);
removing all but one evidence patch still gives Φ ≈ 0.995 (not necessary), removing all 5 predicts
class 0. So the smallest
sufficient-and-necessary subset is exactly the evidence, and the evidence sets are its 5 patches,
one per set, then no sufficient subset remains.
"""

from __future__ import annotations

import numpy as np
import torch


def known_model():
    from core.models.base import HostConfig
    from core.models.registry import build_host

    host = build_host("abmil", HostConfig(in_dim=2, n_outputs=2, hidden=2, attn_hidden=1, dropout=0.0)).eval()
    with torch.no_grad():
        host.fc[0].weight.copy_(torch.eye(2))
        host.fc[0].bias.zero_()
        host.attention.v[0].weight.copy_(torch.tensor([[0.0, 3.0]]))
        host.attention.v[0].bias.zero_()
        host.attention.u[0].weight.zero_()
        host.attention.u[0].bias.fill_(20.0)
        host.attention.w.weight.fill_(7.2)
        host.attention.w.bias.zero_()
        host.classifier.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 8.0]]))
        host.classifier.bias.copy_(torch.tensor([0.0, -2.0]))
    return host


def known_bag(n_background: int = 100, n_evidence: int = 5, seed: int = 0):
    """(N, 2) float32 features, (N, 2) int64 coords, (E,) int64 evidence indices (shuffled positions)."""
    rng = np.random.default_rng(seed)
    n = n_background + n_evidence
    x = np.zeros((n, 2), dtype=np.float32)
    ev = np.sort(rng.choice(n, size=n_evidence, replace=False))
    x[:, 0] = 1.0
    x[ev] = (0.0, 1.0)
    x += rng.uniform(0.0, 0.05, size=x.shape).astype(np.float32)  # distinct values, no exact ties
    coords = np.stack([np.arange(n) % 20, np.arange(n) // 20], 1).astype(np.int64) * 256
    return x, coords, ev.astype(np.int64)


def forward_phi(model, x, coords, keep, predicted: int) -> tuple[float, int]:
    """Independent check: Φ (probability of ``predicted``) and the class of a real forward on x[keep]."""
    t = torch.from_numpy(np.asarray(keep, dtype=np.int64))
    with torch.no_grad():
        out = model(torch.from_numpy(x)[t], torch.from_numpy(coords)[t]).output
    p = torch.softmax(out.double(), 0).numpy()
    return float(p[predicted]), int(np.argmax(p))


def known_project(folder, n_slides: int = 1):
    """Checkpoint of :func:`known_model` and ``n_slides`` feature bags (each with its evidence indices)."""
    from core.data.bag import FeatureBag
    from core.data.bags import write_bag
    from core.models.checkpoint import save_checkpoint

    model = known_model()
    ckpt = folder / "known.pt"
    save_checkpoint(ckpt, model, {"host": "abmil", "host_config": model.config.to_dict(), "task": "classification",
                                  "classes": ["negative", "positive"]})
    bags = []
    for i in range(n_slides):
        x, c, ev = known_bag(seed=i, n_evidence=5 - i % 3)
        f = folder / f"k{i}.h5"
        write_bag(f, FeatureBag(x, c, 256, f"k{i}"))
        bags.append((f, ev))
    return ckpt, bags

"""A small review project built from a real slide: feature bag + evidence file (+ annotations).

Used by the viewer's tests, screenshot and benchmark when no trained model is at hand. Features
are colour statistics of each patch (read from the slide), so the maps follow the tissue:
``attention`` is a softmax of patch darkness (tissue vs background), ``ig`` a signed map
(darkness minus its median), the gate a sigmoid of darkness, the ``gce`` subset the top 5% by
attention.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_text
from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.evidence.evidence_file import Evidence, Subset, write_evidence

__all__ = ["write_demo_project", "demo_model"]


def write_demo_project(slide_path: str | os.PathLike, out_dir: str | os.PathLike, patch_size: int = 256,
                       max_patches: int = 4000) -> dict[str, Path]:
    """Write ``features/<stem>.h5``, ``evidence/<stem>_evidence.h5`` and ``annotations/<stem>.geojson``.

    Patches lie on a lattice of ``patch_size`` level-0 pixels over the whole slide (grown when it
    would exceed ``max_patches``). Returns ``{"slide", "features", "evidence", "annotations"}``.
    """
    from core.slide.reader import open_slide  # local: pulls in openslide

    out = Path(out_dir)
    stem = Path(slide_path).stem
    with open_slide(slide_path) as reader:
        w, h = reader.dimensions
        while (w // patch_size) * (h // patch_size) > max_patches:
            patch_size *= 2
        cols, rows = w // patch_size, h // patch_size
        sub = 4  # thumbnail pixels per patch side; each patch's colour is the mean of its block
        thumb = reader.get_thumbnail((max(w * sub // patch_size, 1), max(h * sub // patch_size, 1)))
    th, tw = thumb.shape[:2]
    ys = np.minimum((np.arange(rows * sub) * patch_size / sub + patch_size / (2 * sub)) * th / h, th - 1).astype(int)
    xs = np.minimum((np.arange(cols * sub) * patch_size / sub + patch_size / (2 * sub)) * tw / w, tw - 1).astype(int)
    block = thumb[ys[:, None], xs[None, :]].astype(np.float32) / 255.0  # (rows*sub, cols*sub, 3)
    rgb = block.reshape(rows, sub, cols, sub, 3).mean(axis=(1, 3)).reshape(-1, 3)  # (N, 3)
    gy, gx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    coords = np.stack([gx.reshape(-1) * patch_size, gy.reshape(-1) * patch_size], axis=1).astype(np.int64)
    dark = 1.0 - rgb.mean(axis=1)  # (N,)
    rng = np.random.default_rng(0)
    feats = np.concatenate([rgb, dark[:, None], rng.normal(0, 0.01, (rgb.shape[0], 4))], axis=1).astype(np.float32)
    paths = {"slide": Path(slide_path), "features": out / "features" / f"{stem}.h5",
             "evidence": out / "evidence" / f"{stem}_evidence.h5",
             "annotations": out / "annotations" / f"{stem}.geojson"}
    paths["features"].parent.mkdir(parents=True, exist_ok=True)
    write_bag(paths["features"], FeatureBag(feats, coords, patch_size, stem))
    z = (dark - dark.mean()) / (dark.std() + 1e-9) * 2.0
    att = np.exp(z - z.max())
    att /= att.sum()
    gate = 1.0 / (1.0 + np.exp(-(z - 1.0) * 3.0))
    k = max(1, int(0.05 * att.size))
    subset = np.sort(np.argsort(-att)[:k])
    paths["evidence"].parent.mkdir(parents=True, exist_ok=True)
    write_evidence(paths["evidence"], Evidence(
        slide_id=stem, coords=coords, classes=("benign", "tumour"), predicted_class=1,
        scores={"attention": att, "ig": dark - np.median(dark)}, gates=gate,
        responses=np.stack([dark, 1.0 - dark], axis=1), prompts=("dense tumour", "background"),
        subsets={"gce": Subset(subset.astype(np.int64), "coverage reached")}, model="demo"))
    c = coords[subset[0]]
    ring = [[int(c[0]), int(c[1])], [int(c[0]) + 3 * patch_size, int(c[1])],
            [int(c[0]) + 3 * patch_size, int(c[1]) + 2 * patch_size], [int(c[0]), int(c[1]) + 2 * patch_size]]
    polygon = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": polygon,
           "properties": {"classification": {"name": "Tumor"}}}]}
    paths["annotations"].parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(paths["annotations"], json.dumps(doc))
    return paths


def demo_model(in_dim: int = 8, n_classes: int = 2):
    """A tiny deterministic attention-MIL host for the demo project's features (tests, screenshot, bench).

    Attention logits ``z_i = 4 * x_i[3]`` (patch darkness), bag embedding ``h = Σ softmax(z)_i x_i``,
    logits ``[0, 10 * (h[3] - 0.3)]``: dark (tissue-rich) bags lean to class 1. Returns a
    :class:`core.models.base.MILHost` whose forward gives a ``HostOutput``.
    """
    import torch  # local: torch only when used

    from core.models.base import HostConfig, HostOutput, MILHost, gate_log_bias  # local: pulls in torch

    class DemoAttentionMIL(MILHost):
        name = "demo"
        pools_by_attention = True

        def embed(self, features):
            return features, 4.0 * features[:, 3]  # (N, D), (N,)

        def head(self, bag_embedding):
            s = 10.0 * (bag_embedding[..., 3:4] - 0.3)  # (..., 1)
            return torch.cat([torch.zeros_like(s), s], dim=-1)  # (..., 2)

        def forward(self, features, coords=None, gate=None):
            e, z = self.embed(features)
            if gate is not None:
                z = z + gate_log_bias(gate)
            a = torch.softmax(z, dim=0)  # (N,)
            return HostOutput(output=self.head(a @ e), attention=a, attention_logits=z, embeddings=e)

    return DemoAttentionMIL(HostConfig(in_dim=in_dim, n_outputs=n_classes))

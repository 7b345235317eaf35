"""The ``encoders`` benchmark group: a row per model, batched against a per-patch loop (tiny ResNet here)."""

from __future__ import annotations

import pytest

from core.bench import ROW_KEYS, discover
from core.bench.encoders import MODELS, bench_encoder
from testkit.encoders import TINY_RESNET


def test_group_is_discovered_with_vit_and_resnet():
    assert discover()["encoders"].GROUP == "encoders"
    assert MODELS == ("vit_small_patch16_224", "resnet50")


def test_row_compares_batched_with_per_patch_loop():
    row = bench_encoder("resnet18", n=4, batch=2, repeats=1, device="cpu", options=TINY_RESNET)
    assert all(k in row for k in ROW_KEYS)
    assert row["speedup"] == pytest.approx(row["baseline_ms"] / row["ours_ms"])
    assert row["patches_per_s"] == pytest.approx(1e3 / row["ours_ms"])
    assert row["max_abs_diff"] < 1e-4  # the same features, batched or one by one
    assert row["channels_last"] and row["device"] == "cpu"

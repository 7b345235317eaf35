"""The λ_e sweep (core.train.sweep): one run per setting, table + plot, noisy runs scored on clean masks."""

from __future__ import annotations

import csv
from pathlib import Path

from shapely.geometry import box

from core.data.annotations import Annotation, write_geojson
from core.train.sweep import main, noisy_transform
from testkit.train import write_cohort


def test_noisy_transform_dilates_and_shifts() -> None:
    g = noisy_transform(10, 256)(box(0, 0, 256, 256))
    minx, miny, maxx, maxy = g.bounds
    assert (minx, miny) == (246, 246) and (maxx, maxy) == (522, 522)


def test_sweep_writes_table_and_plot(tmp_path: Path, capsys) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = tmp_path / "ann"
    ann.mkdir()
    for i in range(20):
        write_geojson(ann / f"s{i:02d}.geojson", [Annotation(box(0, 0, 256, 256), None, None, {})] if i % 2 else [])
    out = tmp_path / "sweep"
    rc = main(["--manifest", str(manifest), "--features", str(feats), "--annotations", str(ann), "--out", str(out),
               "--weights", "0", "5", "--folds", "2", "--epochs", "3", "--hidden", "8", "--attn-hidden", "4",
               "--noise-shift", "3", "--lr", "0.01"])
    assert rc == 0
    with (out / "trade_off.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["annotations"], r["lambda"]) for r in rows] == [("clean", "0"), ("clean", "5"), ("noisy", "5")]
    for r in rows:
        assert 0 <= float(r["relevance_mass"]) <= 1 and 0 < float(r["relevance_mass_chance"]) < 1
    rm = {(r["annotations"], r["lambda"]): float(r["relevance_mass"]) for r in rows}
    # the loss on the true evidence raises the held-out relevance mass; shifted annotations (wrong patches) do not help as much
    assert rm[("clean", "5")] > rm[("clean", "0")]
    assert rm[("clean", "5")] > rm[("noisy", "5")]
    assert (out / "trade_off.png").stat().st_size > 1000
    assert "| clean | 5 |" in (out / "trade_off.md").read_text(encoding="utf-8")
    assert (out / "noisy_lambda5" / "results.json").is_file()


def test_sweep_bad_annotations(tmp_path: Path, capsys) -> None:
    manifest, feats = write_cohort(tmp_path)
    rc = main(["--manifest", str(manifest), "--features", str(feats), "--annotations", str(tmp_path / "none"),
               "--out", str(tmp_path / "o")])
    assert rc == 2 and capsys.readouterr().err.startswith("error: ")

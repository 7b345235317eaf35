"""``evident extract``: outputs, several slides, bad input (one ``error:`` line, exit 2, nothing written)."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from core.cli import main


def _h5_files(folder: Path) -> list[Path]:
    """Output files, without the scheduler's ledger (OUT/.evident, docs/scheduler.md)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".evident" not in p.relative_to(folder).parts) \
        if folder.exists() else []


def _one_error_line(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0]


def test_extract_real_slide(cmu_slide, tmp_path, capsys):
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    target = tmp_path / "20x_256px_0px_overlap" / "features_stain_texture_v1" / "cmu_small_region.h5"
    assert out.startswith(f"{target}\t") and "patches x 89 features" in out
    with h5py.File(target, "r") as f:
        assert f["features"].dtype == np.float32 and f["coords"].dtype == np.int64
        assert f["coords"].attrs["patch_size_level0"] == 256
    # --skip-existing leaves the file alone
    mtime = target.stat().st_mtime_ns
    assert main(["extract", str(cmu_slide), "--out", str(tmp_path), "--skip-existing", "--no-progress"]) == 0
    assert "skipped" in capsys.readouterr().out and target.stat().st_mtime_ns == mtime


def test_progress_bar_goes_to_stderr(cmu_slide, tmp_path, capsys):
    assert main(["extract", str(cmu_slide), "--out", str(tmp_path), "--patch-size", "512",
                 "--magnification", "10", "--tissue-threshold", "0.3"]) == 0
    out, err = capsys.readouterr()
    assert "patch" in err and "error" not in err
    assert out.count("\n") == 1


@pytest.mark.parametrize("kind", ["missing", "random bytes", "empty", "folder"])
def test_bad_slide(kind, tmp_path, capsys):
    slide = tmp_path / "bad.svs"
    if kind == "random bytes":
        slide.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif kind == "empty":
        slide.write_bytes(b"")
    elif kind == "folder":
        slide.mkdir()
    before = slide.read_bytes() if slide.is_file() else None
    out_dir = tmp_path / "out"
    assert main(["extract", str(slide), "--out", str(out_dir), "--no-progress"]) == 2
    _one_error_line(capsys.readouterr().err, str(slide))
    assert _h5_files(out_dir) == []
    if before is not None:
        assert slide.read_bytes() == before


def test_corrupt_copy_of_real_slide(cmu_slide, tmp_path, capsys):
    broken = tmp_path / "broken.svs"
    data = bytearray(Path(cmu_slide).read_bytes())
    data[len(data) // 2:] = b"\x00" * (len(data) - len(data) // 2)  # second half zeroed
    broken.write_bytes(bytes(data))
    assert main(["extract", str(broken), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    _one_error_line(capsys.readouterr().err, str(broken))
    assert _h5_files(tmp_path / "out") == []


def test_good_slides_still_written_when_one_fails(cmu_slide, tmp_path, capsys):
    other = tmp_path / "second.svs"
    shutil.copy(cmu_slide, other)
    missing = tmp_path / "missing.svs"
    out_dir = tmp_path / "out"
    rc = main(["extract", str(cmu_slide), str(missing), str(other), "--out", str(out_dir), "--no-progress",
               "--skip-errors"])
    out, err = capsys.readouterr()
    assert rc == 2
    _one_error_line(err, str(missing), "no such file")
    names = [p.name for p in _h5_files(out_dir)]
    assert names == ["cmu_small_region.h5", "second.h5"]
    assert out.count("\n") == 2
    record = json.loads((out_dir / ".evident" / "ledger" / "extract" / "missing.json").read_text())
    assert record["state"] == "failed" and str(missing) in record["error"]


def test_without_skip_errors_the_run_stops_at_a_bad_slide_and_resumes(cmu_slide, tmp_path, capsys):
    other = tmp_path / "second.svs"
    shutil.copy(cmu_slide, other)
    missing = tmp_path / "missing.svs"
    out_dir = tmp_path / "out"
    args = ["extract", str(cmu_slide), str(missing), str(other), "--out", str(out_dir), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and str(missing) in err[0]
    assert "1 slide(s) not started" in err[1] and len(err) == 2
    assert [p.name for p in _h5_files(out_dir)] == ["cmu_small_region.h5"]
    first = (out_dir / "20x_256px_0px_overlap" / "features_stain_texture_v1" / "cmu_small_region.h5").stat().st_mtime_ns
    missing.write_bytes(Path(cmu_slide).read_bytes())  # the bad slide is fixed: the rerun does the rest only
    assert main(args) == 0
    assert "1 slide(s) already done" in capsys.readouterr().err
    assert [p.name for p in _h5_files(out_dir)] == ["cmu_small_region.h5", "missing.h5", "second.h5"]
    assert (out_dir / "20x_256px_0px_overlap" / "features_stain_texture_v1" / "cmu_small_region.h5").stat().st_mtime_ns == first


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tissue-threshold", "1.5"], "--tissue-threshold"),
        (["--patch-size", "0"], "--patch-size"),
        (["--magnification", "-20"], "--magnification"),
        (["--batch-size", "0"], "--batch-size"),
        (["--encoder", "resnet50"], "unknown encoder"),
        (["--encoder", "torchscript:/nonexistent/model.pt"], "not found"),
        (["--read-threads", "0"], "--read-threads"),
        (["--encoder-size", "-1"], "--encoder-size"),
        (["--magnification", "40"], "above the slide"),
    ],
)
def test_bad_options(cmu_slide, tmp_path, capsys, args, needle):
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path), "--no-progress", *args])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert _h5_files(tmp_path) == []


def test_same_stem_twice_is_refused(cmu_slide, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    copy = tmp_path / "a" / Path(cmu_slide).name
    shutil.copy(cmu_slide, copy)
    assert main(["extract", str(cmu_slide), str(copy), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    _one_error_line(capsys.readouterr().err, "same name")
    assert _h5_files(tmp_path / "out") == []


class MeanColour(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (B, 6)


def _tiny_model(tmp_path: Path) -> Path:
    model = tmp_path / "tiny_encoder.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(MeanColour()).save(str(model))
    return model


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(cmu_slide, tmp_path, capsys):
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path / "out"), "--no-progress",
               "--encoder", f"torchscript:{_tiny_model(tmp_path)}", "--device", "cuda:1"])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, "CUDA")
    assert _h5_files(tmp_path / "out") == []


def test_torchscript_encoder_end_to_end(cmu_slide, tmp_path, capsys):
    model = _tiny_model(tmp_path)
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path / "out"), "--encoder", f"torchscript:{model}",
               "--encoder-size", "64", "--device", "cpu", "--no-progress"])
    assert rc == 0
    target = tmp_path / "out" / "20x_256px_0px_overlap" / "features_tiny_encoder" / "cmu_small_region.h5"
    assert str(target) in capsys.readouterr().out
    with h5py.File(target, "r") as f:
        feats = f["features"][()]
        assert f["coords"].attrs["encoder"] == "tiny_encoder"
    assert feats.shape[1] == 6 and np.isfinite(feats).all()
    assert (feats[:, :3] < feats[:, 3:]).all()  # mean < max of each channel


def test_output_folder_that_is_a_file(cmu_slide, tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    assert main(["extract", str(cmu_slide), "--out", str(blocker), "--no-progress"]) == 2
    _one_error_line(capsys.readouterr().err, str(blocker))
    assert blocker.read_text() == "not a folder"


def test_preview_shows_mask_and_patches(cmu_slide, tmp_path, capsys):
    from PIL import Image

    assert main(["extract", str(cmu_slide), "--out", str(tmp_path), "--preview", "--no-progress",
                 "--magnification", "10"]) == 0
    png = tmp_path / "previews" / "cmu_small_region.png"
    img = np.asarray(Image.open(png).convert("RGB"))
    assert max(img.shape[:2]) == 1024 and img.shape[2] == 3
    green = (img[..., 1] == 170) & (img[..., 0] == 0) & (img[..., 2] == 0)
    assert green.sum() > 100  # patch outlines
    assert img[:20, :20].mean() < 0.6 * 255  # glass corner dimmed (white * 0.55)
    with h5py.File(tmp_path / "10x_256px_0px_overlap" / "features_stain_texture_v1" / "cmu_small_region.h5", "r") as f:
        assert f["coords"].attrs["patch_size_level0"] == 512


def test_a_replaced_slide_file_is_extracted_again_and_only_it(cmu_slide, tmp_path, capsys):
    slides = [tmp_path / "first.svs", tmp_path / "second.svs"]
    for s in slides:
        shutil.copy(cmu_slide, s)
    out_dir = tmp_path / "out"
    args = ["extract", *map(str, slides), "--out", str(out_dir), "--no-progress", "--engine", "serial"]
    assert main(args) == 0
    feats = out_dir / "20x_256px_0px_overlap" / "features_stain_texture_v1"
    stamps = {p.name: p.stat().st_mtime_ns for p in _h5_files(out_dir)}
    capsys.readouterr()
    assert main(args) == 0
    assert "2 slide(s) already done" in capsys.readouterr().err
    before = slides[1].stat().st_mtime_ns
    slides[1].write_bytes(Path(cmu_slide).read_bytes())  # the slide file replaced (a new copy)
    os.utime(slides[1], ns=(before + 10**9, before + 10**9))
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "1 slide(s) already done" in err and out.startswith(f"{feats / 'second.h5'}\t") and out.count("\n") == 1
    assert (feats / "first.h5").stat().st_mtime_ns == stamps["first.h5"]
    assert (feats / "second.h5").stat().st_mtime_ns != stamps["second.h5"]

"""A rerun of an interrupted `evident demo` resumes its train stage (real cohort, extract and training,
cut short: the stages after ``train`` are stopped by the command runner)."""

from __future__ import annotations

import shutil

import pytest

import core.train.cv as cv_module
from core.commands import build_parser
from core.demo.cohort import CohortConfig
from core.demo.pipeline import DemoConfig, run_demo
from core.demo.stages import command_runner
from core.errors import EvidentError

TINY = DemoConfig(cohort=CohortConfig(n_slides=8, grid=(8, 8), seed=1), folds=2, epochs=3, hidden=16,
                  attn_hidden=8, workers=1)
TRAIN_FILES = ("config.json", "results.json", "predictions.csv", "fold_0_0/fold.json", "fold_0_1/fold.json")


class _StopAfterTrain(Exception):
    """Raised by the command runner at the stage after ``train`` (keeps the test short)."""


def _runner():
    real = command_runner(build_parser)

    def run_command(argv, log=None):
        if str(argv[0]) == "train" and "--gce" in [str(a) for a in argv]:
            raise _StopAfterTrain
        return real(argv, log)

    return run_command


def _demo_until_train(ws, config=TINY, lines=None, rebuild=False):
    with pytest.raises(_StopAfterTrain):
        run_demo(_runner(), ws, config, rebuild=rebuild, echo=(lines if lines is not None else []).append)


def _train_files(ws) -> dict[str, bytes]:
    """The train stage's files; the workspace's own path (config.json's ``source``) made neutral."""
    return {name: (ws / "models" / "abmil" / name).read_bytes().replace(str(ws).encode(), b"WS")
            for name in TRAIN_FILES}


@pytest.fixture(scope="module")
def reference(cmu_slide, tmp_path_factory):
    """A workspace where cohort, extract and train ran uninterrupted."""
    ws = tmp_path_factory.mktemp("demo_ref") / "ws"
    _demo_until_train(ws)
    return ws


@pytest.fixture
def counted_folds(monkeypatch):
    """Counts the folds trained; ``fail_after[0]`` folds later a fault is raised (None: never)."""
    calls, fail_after = [], [None]
    real = cv_module._run_fold

    def run_fold(*args, **kwargs):
        if fail_after[0] is not None and len(calls) >= fail_after[0]:
            raise KeyboardInterrupt("killed after the first fold")
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cv_module, "_run_fold", run_fold)
    return calls, fail_after


def _copy_without_train(reference, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(reference, ws)
    shutil.rmtree(ws / "models" / "abmil")
    for rec in (ws / ".stages").glob("train*.json"):
        rec.unlink()
    return ws


def test_demo_killed_after_first_fold_resumes_to_the_same_outputs(reference, counted_folds, tmp_path):
    calls, fail_after = counted_folds
    ws = _copy_without_train(reference, tmp_path)
    fail_after[0] = 1
    with pytest.raises(KeyboardInterrupt):
        run_demo(_runner(), ws, TINY, echo=lambda s: None)
    assert (ws / "models" / "abmil" / "fold_0_0" / "fold.json").is_file()
    assert not (ws / "models" / "abmil" / "results.json").exists()
    calls.clear()
    fail_after[0] = None
    lines: list[str] = []
    _demo_until_train(ws, lines=lines)
    assert len(calls) == 1  # only the unfinished fold trained again
    assert any(line.startswith("[train] resuming") for line in lines), lines
    assert "[extract] cached" in "\n".join(lines)
    assert _train_files(ws) == _train_files(reference)


def test_demo_with_a_finished_train_stage_skips_it_and_a_lost_final_file_is_rebuilt(reference, counted_folds,
                                                                                    tmp_path):
    calls, _ = counted_folds
    ws = _copy_without_train(reference, tmp_path)  # trained here: config.json names this workspace
    _demo_until_train(ws)
    assert len(calls) == 2
    lines: list[str] = []
    _demo_until_train(ws, lines=lines)
    assert "[train] cached: outputs up to date" in lines
    (ws / "models" / "abmil" / "results.json").unlink()
    _demo_until_train(ws, lines=lines)
    assert len(calls) == 2  # every fold was finished: read back, not trained
    assert _train_files(ws) == _train_files(reference)


def test_demo_rerun_with_other_settings_names_the_folder_and_the_setting(reference, counted_folds, tmp_path):
    calls, _ = counted_folds
    ws = tmp_path / "ws"
    shutil.copytree(reference, ws)
    before = _train_files(ws)
    other = DemoConfig(cohort=TINY.cohort, folds=2, epochs=4, hidden=16, attn_hidden=8, workers=1)
    with pytest.raises(EvidentError) as err:
        run_demo(_runner(), ws, other, echo=lambda s: None)
    assert err.value.path == str(ws / "models" / "abmil")
    assert "epochs: 3 then, 4 now" in err.value.message and "--rebuild" in err.value.message
    assert calls == [] and _train_files(ws) == before

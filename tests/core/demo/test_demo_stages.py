"""Stage caching, missing-stage reporting and the `evident demo` command's error path."""

from __future__ import annotations

import pytest

from core.commands import build_parser
from core.demo.stages import StageRunner, command_runner


def test_stage_runs_once_then_is_cached_until_params_change(tmp_path):
    calls = []
    lines = []
    out = tmp_path / "out.txt"

    def work():
        calls.append(1)
        out.write_text("x")

    r = StageRunner(tmp_path, echo=lines.append)
    assert r.run("a", "A", work, params={"k": 1}, outputs=out.exists).status == "done"
    r2 = StageRunner(tmp_path, echo=lines.append)
    assert r2.run("a", "A", work, params={"k": 1}, outputs=out.exists).status == "cached"
    assert len(calls) == 1
    out.unlink()  # outputs gone -> runs again
    assert StageRunner(tmp_path, echo=lines.append).run("a", "A", work, params={"k": 1},
                                                        outputs=out.exists).status == "done"
    assert StageRunner(tmp_path, echo=lines.append).run("a", "A", work, params={"k": 2},
                                                        outputs=out.exists).status == "done"
    assert StageRunner(tmp_path, rebuild=True, echo=lines.append).run("a", "A", work, params={"k": 2},
                                                                      outputs=out.exists).status == "done"
    assert len(calls) == 4


def test_dependency_change_invalidates_downstream(tmp_path):
    calls = []
    for k in (1, 1, 2):
        r = StageRunner(tmp_path, echo=lambda s: None)
        r.run("up", "U", lambda: None, params={"k": k})
        r.run("down", "D", lambda k=k: calls.append(k), deps=["up"])
    assert calls == [1, 2]


def test_failing_stage_is_not_recorded(tmp_path):
    from core.errors import EvidentError

    def boom():
        raise EvidentError("x.h5", "broken")

    r = StageRunner(tmp_path, echo=lambda s: None)
    with pytest.raises(EvidentError):
        r.run("a", "A", boom)
    assert not (tmp_path / ".stages" / "a.json").exists()


def test_run_command_runs_in_process_and_logs_stdout(tmp_path, real_data, capsys):
    log = tmp_path / "logs" / "fetch.log"
    assert command_runner(build_parser)(["fetch-data"], log) == 0
    text = log.read_text()
    assert text.startswith("$ evident fetch-data") and "cmu_slide" in text
    assert "cmu_slide" not in capsys.readouterr().out


def test_demo_command_on_unwritable_workspace_is_one_error_line(tmp_path, capsys):
    from core.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", "--workspace", str(blocker / "ws"), "--no-gui"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "file" in err[0]
    assert blocker.read_text() == "x"


def _partial_work(folder, done: list[str]):
    """A stage that resumes: does the parts ``folder`` lacks, fails once after the first part when asked."""

    def work(fail_after_first=False):
        folder.mkdir(exist_ok=True)
        for part in ("p1", "p2"):
            if not (folder / part).exists():
                (folder / part).write_text(part)
                done.append(part)
                if fail_after_first:
                    raise KeyboardInterrupt
        (folder / "final").write_text("ok")

    return work


def test_resumable_stage_continues_an_interrupted_run_and_rebuild_starts_over(tmp_path):
    folder, done, lines = tmp_path / "run", [], []
    work = _partial_work(folder, done)
    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, echo=lines.append).run("t", "T", lambda: work(True), params={"k": 1},
                                                     resumable=folder)
    res = StageRunner(tmp_path, echo=lines.append).run("t", "T", work, params={"k": 1},
                                                       outputs=(folder / "final").exists, resumable=folder)
    assert res.status == "done" and done == ["p1", "p2"]
    assert f"[t] resuming the interrupted run in {folder}" in lines
    res = StageRunner(tmp_path, rebuild=True, echo=lines.append).run("t", "T", work, params={"k": 1},
                                                                     resumable=folder)
    assert res.status == "done" and done == ["p1", "p2", "p1", "p2"]


def test_resumable_stage_refuses_work_from_other_settings_or_of_unknown_origin(tmp_path):
    from core.errors import EvidentError

    folder, done = tmp_path / "run", []
    work = _partial_work(folder, done)
    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, echo=lambda s: None).run("t", "T", lambda: work(True), params={"k": 1},
                                                       resumable=folder)
    with pytest.raises(EvidentError) as err:
        StageRunner(tmp_path, echo=lambda s: None).run("t", "T", work, params={"k": 2}, resumable=folder)
    assert err.value.path == str(folder) and "k: 1 then, 2 now" in err.value.message
    (tmp_path / ".stages" / "t.started.json").unlink()
    with pytest.raises(EvidentError, match="settings are not recorded"):
        StageRunner(tmp_path, echo=lambda s: None).run("t", "T", work, params={"k": 1}, resumable=folder)
    assert done == ["p1"]

"""``evident view`` ends its process as soon as the window has closed (no slow interpreter shutdown),
with the window's settings written first."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def test_run_with_exit_process_syncs_settings_then_exits_with_the_status(monkeypatch, cmu_slide, qapp, tmp_path):
    from PySide6.QtCore import QSettings, QStandardPaths

    import app.application as application

    user, native = QSettings.Scope.UserScope, QSettings.Format.NativeFormat
    default = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setPath(native, user, str(tmp_path))  # never the user's settings

    calls = []

    class Exited(Exception):
        pass

    def fake_exit(status):
        calls.append(status)
        raise Exited

    monkeypatch.setattr(application.os, "_exit", fake_exit)
    synced = []
    monkeypatch.setattr(QSettings, "sync", lambda self: synced.append(self.fileName()))
    try:
        application.run([str(cmu_slide)], exit_after_ms=0, exit_process=True)
    except Exited:
        pass
    finally:
        QSettings.setPath(native, user, default)
    assert calls == [0] and synced and synced[0].startswith(str(tmp_path))  # settings synced, then exit(status)


def test_view_command_writes_its_settings_and_ends_soon_after_the_window_closed(cmu_slide, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "OMP_NUM_THREADS": "1"}
    env.pop("EVIDENT_EXIT_AFTER_MS", None)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "core.cli", "view", "--exit-after", "100", str(cmu_slide)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    conf = (tmp_path / "Evident" / "Evident.conf").read_text()
    assert "geometry" in conf and cmu_slide.name in conf  # written by closeEvent / open, synced before the exit
    assert time.monotonic() - t0 < 60

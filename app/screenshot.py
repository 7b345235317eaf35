"""Save a screenshot of the viewer (offscreen): ``python -m app.screenshot OUT.png [SLIDE]``.

Opens the real CMU slide (or SLIDE) with a demo project (feature bag, evidence maps, GCE subset,
annotation), the demo attention model, selects the GCE subset, runs a keep-only intervention and
grabs the window with ``widget.grab().save(path)``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["grab", "main"]


def grab(widget, path: str | os.PathLike) -> Path:
    """Render ``widget`` (and its children) to a PNG at ``path``, written through core's atomic
    writer (:func:`core.atomic.atomic_path`: complete or absent, file mode from the umask)."""
    from core.atomic import atomic_path

    out = Path(path)
    with atomic_path(out) as tmp:
        if not widget.grab().save(str(tmp), "PNG"):
            raise OSError(f"could not write {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.window_builder import build_main_window
    from core.data.realdata import fetch
    from core.review.demo import demo_model, write_demo_project

    out = Path(argv[0]) if argv else Path("docs/screenshots/viewer.png")
    slide = Path(argv[1]) if len(argv) > 1 else fetch("cmu_slide")
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="evident-shot-"))
    paths = write_demo_project(slide, tmp, patch_size=128)
    window = build_main_window(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat), review=False)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    window.open_paths([paths["slide"], paths["features"], paths["evidence"], paths["annotations"]])
    s = window.session
    s.update_layer("ig", visible=False)
    s.update_layer("gate", visible=False)
    s.update_layer("attention", visible=True)  # the demo opens with its gate map (core.review.layer_roles)
    s.move_layer("attention", len(s.layers) - 1)
    window.interventions.model = demo_model()
    window.interventions.select_gce_subset()
    loop = QEventLoop()
    window.interventions.result_shown.connect(lambda _r: loop.quit())
    QTimer.singleShot(20000, loop.quit)
    window.interventions.intervene("keep")
    loop.exec()
    s.update_layer([x.name for x in s.layers if x.name.startswith("attention after")][0], visible=False)
    window.view.fit()
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.start(10000)
    while not window.view.is_filled() and deadline.isActive():
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    window._cursor(*(s.grid.coords[int(s.layer("attention").values.argmax())] + 20).tolist())
    grab(window, out)
    print(out)
    window.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter-exit GC of Qt wrappers

"""Screenshots of the review workflows (offscreen).

``python -m app.compare.screenshot compare OUT.png [SLIDE FEATURES EVIDENCE [A B]]`` — the compare
view (default: the real CMU slide's demo project): maps A | B | A − B, locked, with a swipe curtain
in pane A (B left of the line, A right of it).
``python -m app.compare.screenshot cohort OUT.png AUDIT_DIR [MANIFEST FEATURES_DIR EVIDENCE_DIR]`` —
the main window with the cohort browser on a real ``evident audit`` folder (e.g. the one
``evident demo`` writes), sorted by failures, with the first failing slide opened.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["cohort_shot", "compare_shot", "main"]


def _wait_tiles(app, views, ms: int = 15000) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.start(ms)
    while deadline.isActive() and not all(v.tiles is not None and v.tiles.is_filled() for v in views):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    for _ in range(10):
        app.processEvents()


def compare_shot(out: Path, files: list[Path] | None = None, maps: tuple[str, str] = ("attention", "ig")) -> Path:
    from PySide6.QtWidgets import QApplication

    from app.compare.compare_view import CompareView
    from core.data.realdata import fetch
    from core.review.demo import write_demo_project
    from core.review.session import ReviewSession

    app = QApplication.instance() or QApplication([])
    if not files:
        paths = write_demo_project(fetch("cmu_slide"), Path(tempfile.mkdtemp(prefix="evident-compare-")), patch_size=128)
        files = [paths["slide"], paths["features"], paths["evidence"]]
    s = ReviewSession()
    s.open(files)
    view = CompareView(s, panes=2, tile_workers=2)
    view.resize(1700, 900)
    view.show()
    view.panes[0].set_layer(maps[0])
    view.panes[1].set_layer(maps[1])
    view.add_difference("rank")
    view.swipe.setChecked(True)
    view.k.setValue(max(8, s.bag.n_patches // 10))
    for _ in range(5):
        app.processEvents()
    w, h = s.slide.dimensions
    a = view.panes[0].view
    a.set_scale(a.view_box.width() / (w * 0.8), (w * 0.5, h * 0.5))
    view.panes[0].swipe.set_position(w * 0.5)
    _wait_tiles(app, [p.view for p in view.panes])
    from app.screenshot import grab

    grab(view, out)
    view.close()
    s.close()
    return out


def cohort_shot(out: Path, audit: Path, manifest=None, features=None, evidence=None) -> Path:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

    from app.window_builder import build_main_window

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="evident-cohort-"))
    window = build_main_window(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat), tile_workers=2)
    review = window.review
    window.resize(1700, 1050)
    window.show()
    review.docks["cohort"].show()
    review.docks["cohort"].raise_()
    window.resizeDocks([review.docks["cohort"]], [430], Qt.Orientation.Vertical)
    cohort = review.cohort.load(audit, manifest=manifest, features_dir=features, evidence_dir=evidence)
    cols = review.cohort.model.columns
    flagged = [c for c in cols if any(r.value(c) is True for r in cohort.rows)]
    if flagged:  # the most frequent failure first
        top = max(flagged, key=lambda c: sum(r.value(c) is True for r in cohort.rows))
        review.cohort.table.sortByColumn(cols.index(top), Qt.SortOrder.DescendingOrder)
    review.cohort.step_failure(1)
    s = window.session
    for layer in s.layers:  # show one map and the GCE subset, as a reviewer would
        keep = layer.name in ("attention", "subset: recovered", "subset: gce")
        if layer.settings.visible != keep:
            s.update_layer(layer.name, visible=keep)
    _wait_tiles(app, [window.view])
    from app.screenshot import grab

    grab(window, out)
    window.close()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not argv or argv[0] not in ("compare", "cohort"):
        print(__doc__)
        return 2
    if argv[0] == "compare":
        files = [Path(a) for a in argv[2:5]] or None
        maps = tuple(argv[5:7]) if len(argv) >= 7 else ("attention", "ig")
        print(compare_shot(Path(argv[1]) if len(argv) > 1 else Path("docs/screenshots/compare.png"), files, maps))
    else:
        extra = [Path(a) for a in argv[3:6]] + [None] * (3 - len(argv[3:6]))
        print(cohort_shot(Path(argv[1]), Path(argv[2]), *extra))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter-exit GC of Qt wrappers

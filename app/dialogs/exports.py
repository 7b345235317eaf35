"""Exports and sessions from the GUI: each action asks for a path, then calls Qt-free core code.

Every method that takes a path works without a dialog (tests, scripts); errors (unwritable folder,
nothing to export) become one message in the session's message stream, never a crash, and nothing
half-written is left behind (the core writers are atomic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog

from core.errors import EvidentError
from core.review.layers import ScalarLayer, SubsetLayer

__all__ = ["ReviewExports"]


class ReviewExports:
    """Export / session actions for a main window (uses ``window.session``, ``window.view``)."""

    def __init__(self, window) -> None:
        self.window = window
        self.session = window.session

    # ---- helpers -----------------------------------------------------------------------------
    def _say(self, level: str, text: str) -> None:
        self.session.message.emit(level, text)

    def _run(self, fn, done: str) -> bool:
        try:
            fn()
        except EvidentError as exc:
            self._say("error", str(exc))
            return False
        self._say("info", done)
        return True

    def _ask_path(self, title: str, name: str, pattern: str) -> str | None:
        stem = self.session.files.stem if self.session.files is not None else "evident"
        path, _ = QFileDialog.getSaveFileName(self.window, title, f"{stem}_{name}", pattern)
        return path or None

    def _top_scalar(self):
        """The map the colorbar shows: the selected layer when it is a visible map, else the top one."""
        return self.session.map_in_focus()

    # ---- GeoJSON -----------------------------------------------------------------------------
    def export_selection_geojson(self, path) -> bool:
        """The selected patches as merged QuPath regions (with the scores of the map in focus)."""
        from core.review.export import write_patch_geojson

        s = self.session
        if s.grid is None or s.selection.size == 0:
            self._say("warning", "select patches first")
            return False
        top = self._top_scalar()
        return self._run(lambda: write_patch_geojson(path, s.grid.coords, s.grid.patch_size_level0_px, s.selection,
                                                     classification="Selection",
                                                     scores=None if top is None else top.values),
                         f"selection written to {path}")

    def export_subset_geojson(self, layer_name: str, path) -> bool:
        """A subset layer (e.g. the GCE subset) as merged QuPath regions."""
        from core.review.export import write_patch_geojson

        s = self.session
        layer = s.layer(layer_name)
        top = self._top_scalar()
        return self._run(lambda: write_patch_geojson(path, s.grid.coords, s.grid.patch_size_level0_px, layer.indices,
                                                     classification=layer_name.removeprefix("subset: "),
                                                     scores=None if top is None else top.values),
                         f"{layer_name} written to {path}")

    def export_threshold_geojson(self, layer_name: str, threshold: float, path) -> bool:
        """Patches of a map at or above ``threshold`` (normalised units, the layer's own normalisation)."""
        from core.review.export import threshold_indices, write_patch_geojson

        s = self.session
        layer = s.layer(layer_name)
        idx = threshold_indices(layer, threshold)
        if idx.size == 0:
            self._say("warning", f"no patch of {layer_name} reaches {threshold:g}")
            return False
        return self._run(lambda: write_patch_geojson(path, s.grid.coords, s.grid.patch_size_level0_px, idx,
                                                     classification=f"{layer_name} ≥ {threshold:g}", scores=layer.values),
                         f"{idx.size} patches of {layer_name} ≥ {threshold:g} written to {path}")

    # ---- CSV and figure -----------------------------------------------------------------------
    def export_numbers_csv(self, path) -> bool:
        """One row per patch: index, corner, every scalar map, gate, selected; plus interventions as
        ``<path stem>_interventions.csv`` when there are any."""
        from core.review.export import write_csv

        s = self.session
        if s.grid is None:
            self._say("warning", "open a feature file first")
            return False
        scalars = [x for x in s.layers if isinstance(x, ScalarLayer)]
        sel = np.zeros(s.grid.coords.shape[0], bool)
        sel[s.selection] = True
        rows = []
        for i, (x, y) in enumerate(s.grid.coords.tolist()):
            r = {"patch": i, "x": x, "y": y, **{lyr.name: float(lyr.values[i]) for lyr in scalars}}
            if s.gates is not None:
                r["gate"] = float(s.gates[i])
            r["selected"] = int(sel[i])
            rows.append(r)
        hist = [{"step": k, "action": h.action, "n_patches": int(h.indices.size), "phi_delta": h.phi_delta,
                 **{f"p_before({c})": float(p) for c, p in zip(h.classes, h.probs_before)},
                 **{f"p_after({c})": float(p) for c, p in zip(h.classes, h.probs_after)},
                 **{k2: None if v is None else float(v) for k2, v in (h.snr or {}).items()}}  # R: GCE only
                for k, h in enumerate(s.history, 1)]

        def write():
            write_csv(path, rows)
            if hist:
                write_csv(Path(path).with_name(Path(path).stem + "_interventions.csv"), hist)
        return self._run(write, f"numbers written to {path}")

    def export_figure(self, path, width_px: int = 2000) -> bool:
        """The current view with the map in focus (selected, else top visible), its colorbar and a scale bar, ``width_px`` wide."""
        from app.viewer.overlay_layer import layer_rgba
        from core.review.export import render_figure
        from core.review.normalise import colormap_lut

        s, view = self.session, self.window.view
        if s.slide is None:
            self._say("warning", "open a slide first")
            return False
        top = self._top_scalar()
        overlay = rect = lut = None
        label, ends = "", ("", "")
        if top is not None and s.grid is not None and s.grid.is_lattice:
            overlay, rect = s.grid.rasterise(layer_rgba(top, s.grid, s.tissue_fraction)), s.grid.rect
            lut = colormap_lut(top.settings.colormap)
            cb = view.colorbar
            label, ends = f"{cb.title}\n{cb.note}", cb.ends
        title = s.files.stem if s.files is not None else ""
        return self._run(lambda: render_figure(path, s.slide, view.viewport(), overlay=overlay, overlay_rect=rect, lut=lut,
                                               colorbar_label=label, colorbar_ends=ends, width_px=int(width_px),
                                               title=title), f"figure written to {path}")

    # ---- sessions -----------------------------------------------------------------------------
    def save_session(self, path, extras: dict | None = None) -> bool:
        from core.review.session_file import save_session

        return self._run(lambda: save_session(path, self.session, view=self.window.view.viewport(), extras=extras),
                         f"session saved to {path}")

    def open_session(self, path, locate=None) -> list[str] | None:
        """Restore a session file; ``locate(missing) -> {old: new}`` is asked about moved files
        (default: :class:`app.dialogs.locate_files.LocateFilesDialog`). Returns the problems, or
        ``None`` when the file could not be read."""
        from core.review.session_file import (
            missing_files,
            read_session,
            remap,
            restore_session,
        )

        try:
            doc = read_session(path)
        except EvidentError as exc:
            self._say("error", str(exc))
            return None
        missing = missing_files(doc)
        if missing:
            found = (locate or self._locate_dialog)(missing)
            doc = remap(doc, found or {})
        # slide readers stop on the session's `closing` signal, only if the restore replaces the slide
        view, problems = restore_session(self.session, doc)
        if view is not None and self.window.view.reader is not None:
            self.window.view.show_region(*view)
        for p in problems:
            self._say("warning", p)
        self._say("info", f"session {path} restored" + (f" with {len(problems)} problem(s)" if problems else ""))
        return problems

    def _locate_dialog(self, missing):
        from app.dialogs.locate_files import LocateFilesDialog

        dlg = LocateFilesDialog(missing, self.window)
        return dlg.mapping() if dlg.exec() == QDialog.DialogCode.Accepted else {}

    # ---- dialog front-ends ----------------------------------------------------------------------
    def ask_selection_geojson(self) -> None:
        path = self._ask_path("Export selection", "selection.geojson", "GeoJSON (*.geojson)")
        if path:
            self.export_selection_geojson(path)

    def ask_subset_geojson(self) -> None:
        names = [x.name for x in self.session.layers if isinstance(x, SubsetLayer)]
        if not names:
            self._say("warning", "no subset layer is open")
            return
        from core.review.layers import gce_subset_layer

        gce = gce_subset_layer(self.session.layers)  # GCE's recovered subset first, not a baseline
        default = names.index(gce.name) if gce is not None else 0
        name, ok = QInputDialog.getItem(self.window, "Export subset", "Subset layer", names, default, False)
        path = self._ask_path("Export subset", "subset.geojson", "GeoJSON (*.geojson)") if ok else None
        if path:
            self.export_subset_geojson(name, path)

    def ask_threshold_geojson(self) -> None:
        top = self._top_scalar()
        if top is None:
            self._say("warning", "show a map first")
            return
        t, ok = QInputDialog.getDouble(self.window, "Export thresholded map",
                                       f"Keep patches of {top.name} at or above (0–1, {top.settings.describe()})",
                                       max(top.settings.threshold, 0.9), 0.0, 1.0, 3)
        path = self._ask_path("Export thresholded map", "threshold.geojson", "GeoJSON (*.geojson)") if ok else None
        if path:
            self.export_threshold_geojson(top.name, t, path)

    def ask_numbers_csv(self) -> None:
        path = self._ask_path("Export numbers", "numbers.csv", "CSV (*.csv)")
        if path:
            self.export_numbers_csv(path)

    def ask_figure(self) -> None:
        width, ok = QInputDialog.getInt(self.window, "Export figure", "Width in pixels", 2000, 200, 12000, 100)
        path = self._ask_path("Export figure", "figure.png", "PNG (*.png)") if ok else None
        if path:
            self.export_figure(path, width)

    def ask_save_session(self) -> None:
        path = self._ask_path("Save review session", "session.json", "Evident session (*.json)")
        if path:
            self.save_session(path)

    def ask_open_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open review session", "", "Evident session (*.json)")
        if path:
            self.open_session(path)

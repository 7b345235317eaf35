"""Annotating in the main window: the Annotate menu and toolbar, the dock, the context menu (docs/annotate.md).

One :class:`AnnotationDocument` per open slide. Every edit redraws the overlay, refreshes the list,
updates the session's region layers ``drawn: <class>`` (so selection by annotation region,
localisation metrics, session files and exports see the drawn regions like loaded ones) and is
saved at once, atomically, to an autosave file for that slide (``<autosave_dir>/<hash of the
slide path>.geojson``): closing the window or opening another slide never loses drawn work, and
reopening the slide brings it back — with its undo history while the window stays open (one
document per slide is kept). Save… writes QuPath GeoJSON where the user chooses.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QToolBar

from app.annotate.icons import tool_icon
from app.annotate.overlay import AnnotationOverlay
from app.annotate.panel import AnnotationsPanel, _swatch, format_area
from app.annotate.region_layers import LAYER_PREFIX, LayerEditing, layer_class, region_annotations
from app.annotate.tools import TOOLS, AnnotationTools
from core.errors import EvidentError
from core.review.annotation_doc import AnnotationDocument

__all__ = ["Annotator", "LAYER_PREFIX"]


class Annotator(QObject):
    """Wires annotation editing into ``window`` (a MainWindow) for ``view`` and ``session``.

    Signals: ``tool_chosen(tool: str)`` when an annotation tool is chosen (it owns the slide's
    clicks; the Interventions selection tool goes off)."""

    tool_chosen = Signal(str)

    def __init__(self, window, autosave_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window, self.view, self.session = window, window.view, window.session
        self.autosave_dir = Path(autosave_dir)
        self.doc: AnnotationDocument | None = None
        self.slide_path: Path | None = None
        self._docs: dict[Path, AnnotationDocument] = {}  # per slide, with its undo history
        self.overlay = AnnotationOverlay(self.view.view_box)
        self.tools = AnnotationTools(self.view, self.overlay, self)
        self.layer_editing = LayerEditing(self.session)  # region layers from files: read-only until converted
        self.panel = AnnotationsPanel()
        self.dock = window.add_dock("Annotations", self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        window.tabifyDockWidget(window.docks["layers"], self.dock)
        window.docks["layers"].raise_()
        self._actions: dict[str, QAction] = {}
        self._build_actions()
        self.panel.set_classes(AnnotationDocument().classes, self.tools.current_class)
        self._connect()

    # ---- building --------------------------------------------------------------------------
    def _act(self, menu, key: str, text: str, slot, shortcut=None, checkable: bool = False, *,
             view_only: bool = False) -> QAction:
        """An action; its shortcut works wherever the focus is in the window, or with ``view_only``
        only while the slide view has it (Enter and Esc: a name being edited in the list keeps them)."""
        act = QAction(text, self.window, checkable=checkable)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut if view_only
                                   else Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda _=False: slot())
        if menu is not None:
            menu.addAction(act)
        (self.view if view_only else self.window).addAction(act)
        self._actions[key] = act
        return act

    def _build_actions(self) -> None:
        menu = self.window.menuBar().addMenu("&Annotate")
        self.toolbar = QToolBar("Annotate", self.window)
        self.toolbar.setObjectName("annotate-toolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.toolbar.setIconSize(QSize(16, 16))
        # in the menu bar's free right-hand corner: the tools cost neither the height the docks need
        # nor the width the slide needs (1280 x 720 and 900 x 620 layouts, test_layout_window.py)
        self.window.menuBar().setCornerWidget(self.toolbar, Qt.Corner.TopRightCorner)
        group = QActionGroup(self)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)  # none checked: released
        self._tool_group = group
        for tool, (text, key) in TOOLS.items():
            act = self._act(menu, f"tool_{tool}", text, lambda t=tool: self.set_tool(t), key, checkable=True)
            act.setIcon(tool_icon(tool))
            act.setToolTip(f"{text.replace('&', '')} ({key})")
            group.addAction(act)
            self.toolbar.addAction(act)
        self._actions["tool_move"].setChecked(True)
        menu.addSeparator()
        self._act(menu, "undo", "&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self._act(menu, "redo", "&Redo", self.redo, "Ctrl+Shift+Z")
        self._act(menu, "delete", "&Delete selected", self.delete_selected, QKeySequence.StandardKey.Delete)
        self._act(menu, "merge", "&Merge selected", self.merge_selected, "Ctrl+Shift+M")
        self._act(menu, "subtract", "&Subtract from first selected", self.subtract_selected, "Ctrl+Shift+D")
        self._act(menu, "lock", "&Lock selected", lambda: self.set_locked(True))
        self._act(menu, "unlock", "U&nlock selected", lambda: self.set_locked(False))
        self._act(menu, "brush_smaller", "Brush smaller", lambda: self.tools.resize_brush(1 / 1.25), "[")
        self._act(menu, "brush_larger", "Brush larger", lambda: self.tools.resize_brush(1.25), "]")
        self._act(None, "finish", "Finish polygon", self.tools.finish_polygon, "Return", view_only=True)
        self._actions["finish"].setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])  # and the keypad's
        self._act(None, "cancel", "Cancel drawing", self.tools.escape, "Escape", view_only=True)
        menu.addSeparator()
        self._act(menu, "save", "&Save annotations…", self.ask_save, "Ctrl+Shift+A")
        self._act(menu, "load", "&Load annotations…", self.ask_load)
        self._act(menu, "edit_layer", "&Edit region layer as annotations", lambda: self.edit_layer_as_annotations())

    def _connect(self) -> None:
        self.session.files_changed.connect(self._slide_changed)
        self.tools.selection_changed.connect(lambda: self.panel.show_selected(self.tools.selected))
        self.tools.message.connect(self.window.show_message)
        self.tools.measured.connect(lambda text: self.window.show_message(f"ruler: {text}"))
        p = self.panel
        p.rows_selected.connect(self.tools.select)
        p.class_chosen.connect(lambda cls: setattr(self.tools, "current_class", cls))
        p.renamed.connect(lambda uid, name: self.doc is not None and self.doc.rename(uid, name))
        p.set_class_clicked.connect(lambda: self.set_class(p.current_class()))
        p.merge_clicked.connect(self.merge_selected)
        p.subtract_clicked.connect(self.subtract_selected)
        p.delete_clicked.connect(self.delete_selected)
        p.undo_clicked.connect(self.undo)
        p.redo_clicked.connect(self.redo)
        p.save_clicked.connect(self.ask_save)
        p.load_clicked.connect(self.ask_load)
        self.view.context_requested.connect(self.show_context_menu)
        self.view.cursor_moved.connect(self.tools.hover)
        self.tools.missed.connect(self._missed)
        self.window.layers_panel.edit_requested.connect(self.edit_layer_as_annotations)
        # one owner of the slide's left clicks: an annotation tool or an Interventions selection tool
        self.window.interventions.tool_chosen.connect(lambda _tool: self.release_clicks())
        self.tool_chosen.connect(self.window.interventions.set_off)
        # after the event loop turns: a session restore adds its layers one by one
        self.session.layers_changed.connect(lambda: QTimer.singleShot(0, self, self._adopt_restored_layers))

    # ---- slide / document ------------------------------------------------------------------
    def autosave_path(self, slide_path: Path) -> Path:
        key = hashlib.sha256(str(Path(slide_path).resolve()).encode("utf-8")).hexdigest()[:24]
        return self.autosave_dir / f"{key}.geojson"

    def _slide_changed(self) -> None:
        slide = self.session.slide
        path = Path(slide.path) if slide is not None else None
        if path == self.slide_path:
            return
        self.slide_path = path
        doc = self._docs.get(path.resolve()) if path is not None else None
        if path is not None and doc is None:
            saved = self.autosave_path(path)
            doc = self._docs[path.resolve()] = AnnotationDocument()
            if saved.exists():
                try:
                    doc = self._docs[path.resolve()] = AnnotationDocument.load(saved)
                except EvidentError as exc:
                    self.window.show_message(f"drawn annotations not restored: {exc}")
        self.set_document(doc)

    def set_document(self, doc: AnnotationDocument | None) -> None:
        self.doc = doc
        if doc is not None:
            doc.changed.connect(self._edited)
            self.panel.set_classes(doc.classes, self.tools.current_class)
        self.tools.mpp = getattr(self.session.slide, "mpp", None)
        self.tools.set_document(doc)
        self.tools.attach()
        self._redraw()
        if doc is not None and len(doc):
            self._sync_layers()  # the region layers exist as soon as the slide is open, not after an edit

    def _adopt_restored_layers(self) -> None:
        """A session file opened where this slide has nothing drawn (its autosave is elsewhere): its
        ``drawn: <class>`` region layers become editable annotations again, one per polygon, in one
        undoable edit (so the next edit does not drop them)."""
        from core.review.layers import RegionLayer

        for name in self.layer_editing.drop_converted(self.doc):
            self.window.show_message(f"'{name}' is edited as annotations on this slide (Annotations dock); "
                                     "the file's read-only copy is not shown again")
        if self.doc is None or len(self.doc):
            return
        restored = [x for x in self.session.layers if x.name.startswith(LAYER_PREFIX)
                    and isinstance(x, RegionLayer) and x.geometry is not None]
        items = []
        for layer in restored:
            cls = layer_class(layer.name)
            if cls is not None:
                self.doc.add_class(cls, tuple(layer.settings.color))
            items += region_annotations(layer.geometry, cls)
        if items:
            self.doc.extend(items)
            self.panel.set_classes(self.doc.classes, self.tools.current_class)

    def _edited(self) -> None:
        self._redraw()
        self._sync_layers()
        if self.slide_path is not None:
            try:
                self.doc.save(self.autosave_path(self.slide_path))
            except EvidentError as exc:
                self.window.show_message(f"annotations not autosaved: {exc}")

    def _redraw(self) -> None:
        doc = self.doc
        self.tools.select(self.tools.selected)  # drops uids an edit removed
        self.overlay.sync(doc, self.tools.selected)
        if doc is None:
            self.panel.fill([], [], False, False)
            return
        grid = self.session.grid
        coords = grid.coords if grid is not None else None
        size = grid.patch_size_level0_px if grid is not None else None
        rows = []
        for a in doc.items:
            s = doc.stats(a.uid, mpp=self.tools.mpp, coords=coords, patch_size=size)
            if a.kind == "points":
                area, count = "", f"{s.n_points} points"
            else:
                area, count = format_area(s.area_um2, s.area_px), (str(s.n_patches) if coords is not None else "")
            label = (a.classification or "Unclassified") + (" (locked)" if a.locked else "")
            rows.append((a.uid, label, doc.color(a.classification), a.name or "", area, count))
        self.panel.fill(rows, self.tools.selected, doc.can_undo, doc.can_redo)

    def _sync_layers(self) -> None:
        import shapely

        from core.review.layers import regions_layer

        wanted = {}
        for cls, members in (self.doc.by_class() if self.doc is not None else {}).items():
            regions = [a.geometry for a in members if a.kind == "region"]
            if regions:
                wanted[f"{LAYER_PREFIX}{cls or 'unclassified'}"] = (shapely.union_all(regions), self.doc.color(cls))
        for layer in list(self.session.layers):
            if layer.name.startswith(LAYER_PREFIX) and layer.name not in wanted:
                self.session.remove_layer(layer.name)
        for name, (geometry, color) in wanted.items():
            layer = regions_layer(name, geometry, source="drawn in Evident", color=color)
            self.session.add_layer(layer.with_settings(visible=False))  # the annotation overlay draws them

    # ---- actions ---------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """Choose ``tool``: it owns the slide's left clicks from now on (docs/annotate.md)."""
        self.tools.set_tool(tool)
        self._actions[f"tool_{tool}"].setChecked(True)
        self.tool_chosen.emit(tool)

    def release_clicks(self) -> None:
        """An Interventions selection tool was chosen: no annotation tool is active (none is checked)
        until one is chosen again."""
        self.tools.release()
        for act in self._tool_group.actions():
            act.setChecked(False)

    def set_class(self, cls: str | None) -> None:
        if self.doc is not None and self.tools.selected:
            self.doc.set_class(self.tools.selected, cls)

    def set_locked(self, locked: bool) -> None:
        """Lock (QuPath's ``isLocked``: not moved or reshaped) or unlock the selected annotations."""
        if self.doc is not None and self.tools.selected:
            self.doc.set_locked(self.tools.selected, locked)

    def undo(self) -> None:
        if self.doc is not None:
            self.doc.undo()
            self.layer_editing.follow(self.doc)

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.redo()
            self.layer_editing.follow(self.doc)

    def edit_layer_as_annotations(self, name: str | None = None) -> None:
        """Turn the read-only region layer ``name`` (default: the one chosen in the Layers dock, else
        the only one) into editable annotations, one undoable edit (app/annotate/region_layers.py)."""
        if self.doc is None:
            self.window.show_message("open a slide before editing its region layers")
            return
        read_only = [x.name for x in self.layer_editing.read_only()]
        if name is None:
            current = self.session.current_layer
            name = current if current in read_only else read_only[0] if len(read_only) == 1 else None
        if name is None:
            self.window.show_message("choose the region layer to edit in the Layers dock" if read_only
                                     else "no region layer read from a file is open")
            return
        try:
            uids = self.layer_editing.convert(self.doc, name)
        except ValueError as exc:
            self.window.show_message(f"edit as annotations: {exc}")
            return
        self.panel.set_classes(self.doc.classes, self.tools.current_class)
        self.set_tool("move")
        self.tools.select(uids)
        self.window.show_message(f"'{name}' is now {len(uids)} editable annotation{'s' * (len(uids) != 1)} "
                                 "(Move: drag to move, handles reshape; Ctrl+Z turns it back into the layer)")

    def _missed(self, x: float, y: float) -> None:
        """A Move click hit no annotation: on a read-only region layer, say so and how to edit it."""
        layers = self.layer_editing.read_only_at(x, y)
        if layers:
            self.window.show_message(f"'{layers[-1].name}' is a read-only region layer from a file: right-click › "
                                     "Edit as annotations (or Annotate › Edit region layer as annotations) to edit it")

    def delete_selected(self) -> None:
        if self.doc is not None and self.tools.selected:
            self.doc.remove(self.tools.selected)

    def merge_selected(self) -> None:
        if self.doc is None:
            return
        try:
            self.tools.select([self.doc.merge(self.tools.selected)])
        except ValueError as exc:
            self.window.show_message(f"merge: {exc}")

    def subtract_selected(self) -> None:
        sel = self.tools.selected
        if self.doc is not None and len(sel) >= 2:
            try:
                self.doc.subtract(sel[0], sel[1:])
            except ValueError as exc:
                self.window.show_message(f"subtract: {exc}")
        else:
            self.window.show_message("subtract: select the region to cut first, then the regions to cut out")

    def save(self, path: str | Path) -> None:
        if self.doc is None:
            return
        try:
            self.doc.save(path)
            self.window.show_message(f"annotations saved to {path}")
        except EvidentError as exc:
            self.window.show_message(str(exc))

    def load(self, path: str | Path) -> None:
        """Load GeoJSON / ASAP XML into the open slide's annotations (added, undoable)."""
        if self.doc is None:
            self.window.show_message("open a slide before loading annotations")
            return
        try:
            loaded = AnnotationDocument.load(path)
        except EvidentError as exc:
            self.window.show_message(str(exc))
            return
        for c in loaded.classes:
            self.doc.add_class(c.name, c.color)
        self.doc.extend(loaded.items)
        self.panel.set_classes(self.doc.classes, self.tools.current_class)

    def ask_save(self) -> None:
        start = str(self.slide_path.with_suffix(".geojson")) if self.slide_path else ""
        path, _ = QFileDialog.getSaveFileName(self.window, "Save annotations (QuPath GeoJSON)", start,
                                              "GeoJSON (*.geojson *.json)")
        if path:
            self.save(path)

    def ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Load annotations", "",
                                              "Annotations (*.geojson *.json *.xml)")
        if path:
            self.load(path)

    def show_context_menu(self, x: float, y: float, global_pos) -> QMenu:
        """The view's right-click menu at level-0 ``(x, y)``: the annotation there is selected first."""
        menu = QMenu(self.window)
        if self.doc is not None:
            uid = self.doc.hit(x, y, self.tools._px(self.tools.handle_px))
            if uid is not None and uid not in self.tools.selected:
                self.tools.select([uid])
            if self.tools.selected:
                classes = menu.addMenu("Set &class")
                current = {self.doc.get(u).classification for u in self.tools.selected}
                for c in [None, *[c.name for c in self.doc.classes]]:
                    act = classes.addAction(_swatch(self.doc.color(c)), c or "Unclassified")
                    act.setCheckable(True)
                    act.setChecked(current == {c})
                    act.triggered.connect(lambda _=False, c=c: self.set_class(c))
                locked = all(self.doc.get(u).locked for u in self.tools.selected)
                menu.addAction(self._actions["unlock" if locked else "lock"])
                menu.addAction(self._actions["delete"])
                menu.addAction(self._actions["merge"])
                menu.addAction(self._actions["subtract"])
                menu.addSeparator()
        if self.doc is not None:
            here = self.layer_editing.read_only_at(x, y)  # read-only region layers under the click
            for layer in here:
                act = menu.addAction(f"Edit '{layer.name}' as annotations")
                act.triggered.connect(lambda _=False, n=layer.name: self.edit_layer_as_annotations(n))
            if here:
                menu.addSeparator()
        tools = menu.addMenu("&Tool")
        for tool in TOOLS:
            tools.addAction(self._actions[f"tool_{tool}"])
        menu.addSeparator()
        fit = menu.addAction("&Fit slide")
        fit.triggered.connect(self.view.fit)
        centre = menu.addAction("&Centre here")
        centre.triggered.connect(lambda: self.view.center_on(x, y))
        self.context_menu = menu
        menu.popup(global_pos)
        return menu

    def shutdown(self) -> None:
        self.overlay.remove()

"""The review session: the one owner of what the viewer shows (Qt-free).

The GUI writes user choices into a :class:`ReviewSession` and listens to its signals; widgets never
talk to each other. Loading errors are reported (``message`` signal and :attr:`messages`), never
raised to the GUI.

Signals (:class:`core.review.signals.Signal`)
---------------------------------------------
files_changed()
    A new slide group was opened (slide, bag, evidence, annotations, checkpoint).
closing()
    The open slide is about to be closed (a new review replaces it, or :meth:`ReviewSession.close`):
    viewers stop reading it. Not emitted when opening fails, which leaves the review as it was.
layers_changed()
    A layer was added, removed or moved.
layer_changed(name: str)
    A layer's settings changed.
current_layer_changed(name: str | None)
    The layer selected for editing (Layers panel) changed; the colorbar follows it
    (:func:`core.review.layer_roles.map_in_focus`).
selection_changed()
    The patch selection changed.
history_changed()
    An intervention was added or undone.
message(level: str, text: str)
    ``"info"``, ``"warning"`` or ``"error"`` for the status bar / message list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.errors import EvidentError
from core.review.layer_roles import default_layers, distinct_subset_colour, map_in_focus
from core.review.layers import Layer, ScalarLayer
from core.review.matching import MatchResult, SlideFiles, collect, match_files
from core.review.normalise import rank_percentile
from core.review.patch_grid import PatchLattice, patch_lattice
from core.review.patch_readout import AnchorReading, LayerReading, PatchReadout
from core.review.signals import Signal

__all__ = ["ReviewSession", "InterventionRecord"]


@dataclass(frozen=True, eq=False)
class InterventionRecord:
    """One live intervention (plain data from the inference thread).

    ``probs_before``/``probs_after`` are (C,) float64; ``indices`` (K,) int64 the selected patches;
    ``action`` ``"keep"`` or ``"remove"``; ``layers`` the names of layers it added. ``values``:
    regression models only, the predicted value ``(before, after)`` in target units (Φ is then the
    output in the target's training-fold SD units, docs/regression.md).
    """

    action: str
    indices: np.ndarray
    probs_before: np.ndarray
    probs_after: np.ndarray
    classes: tuple[str, ...]
    phi_delta: float
    layers: tuple[str, ...] = ()
    snr: dict | None = None
    phi_before: float | None = None
    device: str = ""
    values: tuple[float, float] | None = None

    @property
    def phi(self) -> tuple[float, float]:
        """``(Φ before, Φ after)`` of the full bag's predicted class (derived from the probabilities
        and ``phi_delta`` for records saved without ``phi_before``)."""
        before = self.phi_before if self.phi_before is not None else float(np.max(self.probs_before))
        return before, before + self.phi_delta

    def summary(self) -> str:
        """One sentence for the interventions dock: action, size, Φ before → after, S / N (/ R)."""
        verb = "kept only" if self.action == "keep" else "removed"
        before, after = self.phi
        snr = self.snr or {}
        if self.values is not None:  # regression: the value, not a class
            v0, v1 = self.values
            text = (f"{verb} {self.indices.size} patches: predicted value {v0:.4g} → {v1:.4g} (Δ {v1 - v0:+.4g}; "
                    f"{self.phi_delta:+.3f} target SD).")
        else:
            text = f"{verb} {self.indices.size} patches: Φ {before:.3f} → {after:.3f} (Δ {self.phi_delta:+.3f})."
        if snr.get("S") is not None and snr.get("N") is not None and self.values is not None:
            text += f"  S (keep-only change) {snr['S']:.3f} SD, N (complement change) {snr['N']:.3f} SD"
            text += (f", R (C-D gap of the gates) {snr['R']:.3f}" if snr.get("R") is not None else "") + "."
        elif snr.get("S") is not None and snr.get("N") is not None:
            text += f"  S (keep-only drop) {snr['S']:+.3f}, N (complement drop) {snr['N']:+.3f}"
            text += (f", R (C-D gap of the gates) {snr['R']:.3f}" if snr.get("R") is not None else "") + "."
        return text + "  Grey: before, blue: after" + (f" (re-predicted on {self.device})." if self.device else ".")


class ReviewSession:
    """State of one review: slide, bag, layers, selection and intervention history."""

    def __init__(self) -> None:
        self.files_changed, self.layers_changed, self.layer_changed = Signal(), Signal(), Signal()
        self.selection_changed, self.history_changed, self.message = Signal(), Signal(), Signal()
        self.closing = Signal()
        self.current_layer_changed = Signal()
        self.current_layer: str | None = None  # the layer selected for editing (Layers panel)
        self.files: SlideFiles | None = None
        self.slide: Any = None
        self.bag: Any = None
        self.grid: PatchLattice | None = None
        self.gates: np.ndarray | None = None
        self.responses: np.ndarray | None = None
        self.prompts: tuple[str, ...] = ()
        self.classes: tuple[str, ...] = ()  # class names from the evidence file, when it names them
        self.messages: list[tuple[str, str]] = []
        self._layers: list[Layer] = []
        self._ranks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.selection = np.zeros(0, dtype=np.int64)
        self.history: list[InterventionRecord] = []
        self.tissue: Any = None  # core.extract.tissue.TissueMask of the open slide, once detected
        self._tissue_fraction: tuple[Any, np.ndarray] | None = None  # (grid it belongs to, (N,) float32)

    # ---- opening -------------------------------------------------------------------------
    def open(self, paths: list[str | os.PathLike]) -> MatchResult:
        """Open files / folders: match them by slide stem and load the first group.

        Files that attach to the slide already open (same stem) are added to it. Unmatched files
        and load errors are reported through :attr:`message`.
        """
        entries, problems = collect(list(paths))
        current = self.files.stem if self.files is not None else None
        result = match_files(entries, current_stem=current)
        for p, why in (*problems, *result.unmatched):
            self._say("warning", f"{p}: {why}")
        if result.groups:
            group = result.groups[0]
            if current is not None and group.stem == current and group.slide is None:
                self._attach(group)
            else:
                self.load(group)
            if len(result.groups) > 1:
                self._say("info", f"{len(result.groups) - 1} more slide(s) matched; opened {group.stem}")
        return result

    def load(self, group: SlideFiles) -> bool:
        """Replace the current review with ``group``'s files (each file's error is reported).

        When the group's slide cannot be opened, or none of its files can be read, the current
        review (slide, layers, selection, history, model) is kept exactly as it was and the errors
        are reported; returns whether the review was replaced.
        """
        slide = None
        if group.slide is not None:
            from core.slide.reader import open_slide  # local: pulls in openslide

            try:
                slide = open_slide(group.slide)
            except (EvidentError, MemoryError, OSError) as exc:
                self._say("error", _problem(group.slide, exc) + self._kept())
                return False
        saved = self._state()
        self._reset()
        self.slide = slide
        self.files = SlideFiles(stem=group.stem, slide=group.slide if slide is not None else None)
        if not self._attach(group, emit=False) and slide is None:
            self._restore(saved)
            self._say("error", f"nothing of {group.stem!r} could be opened" + self._kept())
            return False
        if saved["slide"] is not None:
            self.closing.emit()
            saved["slide"].close()
        self.files_changed.emit()
        self.layers_changed.emit()
        return True

    def _kept(self) -> str:
        return f"; the review of {self.files.stem!r} is kept" if self.files is not None else ""

    _STATE = ("files", "slide", "bag", "grid", "gates", "responses", "prompts", "classes", "_layers", "_ranks",
              "current_layer", "selection", "history", "tissue", "_tissue_fraction")

    def _state(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._STATE}

    def _restore(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def _reset(self) -> None:
        """Forget everything without closing the slide (new containers: a saved state stays intact)."""
        self.files = self.slide = self.bag = self.grid = self.gates = self.responses = None
        self.prompts = ()
        self.classes = ()
        self._layers = []
        self._ranks = {}
        self.current_layer = None
        self.selection = np.zeros(0, dtype=np.int64)
        self.history = []
        self.tissue = None
        self._tissue_fraction = None

    def _attach(self, group: SlideFiles, *, emit: bool = True) -> bool:
        """Add ``group``'s features, evidence, annotations and checkpoint to the open review; returns
        whether any of them was taken (a file that fails is reported and leaves the review as it was)."""
        files = self.files or SlideFiles(stem=group.stem)
        changes: dict[str, Any] = {}
        if group.features is not None and self._try(self._load_bag, group.features):
            changes["features"] = group.features
        if group.evidence is not None and self._try(self._load_evidence, group.evidence):
            changes["evidence"] = group.evidence
        if group.annotations is not None and self._try(self._load_annotations, group.annotations):
            changes["annotations"] = group.annotations
        if group.checkpoint is not None and self._try(self._check_checkpoint, group.checkpoint):
            changes["checkpoint"] = group.checkpoint
        self.files = SlideFiles(stem=files.stem, **{**{k: getattr(files, k) for k in
                                ("slide", "features", "evidence", "annotations", "checkpoint")}, **changes})
        if emit and changes:
            self.files_changed.emit()
            self.layers_changed.emit()
        return bool(changes)

    def _try(self, fn, path) -> bool:
        try:
            fn(path)
            return True
        except (EvidentError, MemoryError, OSError) as exc:
            self._say("error", _problem(path, exc))
            return False

    def _load_bag(self, path) -> None:
        from core.data.bags import read_bag  # local: kept out of the viewer's start-up

        dims = self.slide.dimensions if self.slide is not None else None
        bag = read_bag(path, slide_dimensions=dims)
        if self.bag is None and self.grid is not None and not np.array_equal(bag.coords, self.grid.coords):
            raise EvidentError(path, f"its {bag.n_patches} patch corners differ from the open evidence file's "
                                     f"{self.n_patches}: not the bag the evidence was computed on")
        ps = bag.patch_size_level0 or _infer_patch_size(bag.coords)
        self.bag, self.grid = bag, patch_lattice(bag.coords, ps)

    def _load_evidence(self, path) -> None:
        """Evidence layers; without a feature bag the file's own patch corners make the grid (the maps
        show, interventions wait for the features)."""
        from core.review.loading import read_evidence_layers  # local: kept out of the viewer's start-up

        content = read_evidence_layers(path, None if self.bag is None else self.bag.coords)
        if self.bag is None:
            self.grid = patch_lattice(content.coords, _infer_patch_size(content.coords))
        self.gates, self.responses, self.prompts = content.gates, content.responses, content.prompts
        self.classes = content.classes
        # one map visible (the primary one), subsets in distinct colours: core.review.layer_roles
        for layer in default_layers(content.layers, self._layers, has_gates=content.gates is not None):
            self.add_layer(layer, emit=False)

    def _check_checkpoint(self, path) -> None:
        """Refuse a file that is not a model checkpoint fitting the open bag (read once, cached)."""
        from core.models.checkpoint import check_compatible, read_checkpoint_config  # local: pulls in torch

        config = read_checkpoint_config(path)
        if self.bag is not None:
            check_compatible(config, path, self.bag)

    def _load_annotations(self, path) -> None:
        from core.review.loading import read_annotation_layers  # local: kept out of the viewer's start-up

        for layer in read_annotation_layers(path):
            self.add_layer(layer, emit=False)

    def close(self) -> None:
        """Forget everything (closes the slide, after ``closing`` told its readers)."""
        if self.slide is not None:
            self.closing.emit()
            self.slide.close()
        self._reset()

    @property
    def n_patches(self) -> int:
        """Patches of the open bag, else of the open evidence file's grid (0 when neither is open)."""
        if self.bag is not None:
            return int(self.bag.n_patches)
        return 0 if self.grid is None else int(self.grid.coords.shape[0])

    # ---- layers -------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, ...]:
        """Layers bottom to top."""
        return tuple(self._layers)

    def layer(self, name: str) -> Layer:
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def add_layer(self, layer: Layer, *, emit: bool = True) -> None:
        """Add (or replace, keeping its place) a layer; scalar layers must have one score per patch."""
        if isinstance(layer, ScalarLayer) and self.grid is not None and layer.values.shape[0] != self.n_patches:
            raise EvidentError(layer.source or layer.name,
                               f"{layer.values.shape[0]} scores for {self.n_patches} patches")
        self._ranks.pop(layer.name, None)
        names = [x.name for x in self._layers]
        if layer.name not in names:
            layer = distinct_subset_colour(layer, self._layers)
        if layer.name in names:
            self._layers[names.index(layer.name)] = layer
        else:
            self._layers.append(layer)
        if emit:
            self.layers_changed.emit()

    def set_current_layer(self, name: str | None) -> None:
        """Select a layer for editing (``None`` or an unknown name: no layer); emits
        ``current_layer_changed`` when the choice changed."""
        name = name if name in {x.name for x in self._layers} else None
        if name != self.current_layer:
            self.current_layer = name
            self.current_layer_changed.emit(name)

    def map_in_focus(self) -> Layer | None:
        """The map the colorbar and the thresholded-map export describe (see
        :func:`core.review.layer_roles.map_in_focus`)."""
        return map_in_focus(self._layers, self.current_layer)

    def remove_layer(self, name: str) -> None:
        self._layers.remove(self.layer(name))
        self._ranks.pop(name, None)
        self.layers_changed.emit()

    def move_layer(self, name: str, index: int) -> None:
        """Move a layer to position ``index`` (0 = bottom)."""
        layer = self.layer(name)
        self._layers.remove(layer)
        self._layers.insert(max(0, min(index, len(self._layers))), layer)
        self.layers_changed.emit()

    def update_layer(self, name: str, **settings: Any) -> None:
        """Change display settings of a layer (validated by :class:`LayerSettings`)."""
        i = [x.name for x in self._layers].index(name)
        self._layers[i] = self._layers[i].with_settings(**settings)
        self.layer_changed.emit(name)

    # ---- tissue ----------------------------------------------------------------------------
    def set_tissue(self, tissue: Any) -> None:
        """Keep the slide's tissue mask (a :class:`core.extract.tissue.TissueMask`, computed off the
        GUI thread by the caller) and add / replace the ``"tissue"`` region layer."""
        from core.review.tissue import tissue_layer  # local: pulls in scipy

        self.tissue = tissue
        self._tissue_fraction = None
        old = next((x for x in self._layers if x.name == "tissue"), None)
        layer = tissue_layer(tissue)
        if old is not None:
            layer = replace(layer, settings=old.settings)
        self.add_layer(layer)

    @property
    def tissue_fraction(self) -> np.ndarray | None:
        """(N,) float32 tissue fraction of each patch, or ``None`` without tissue mask or bag."""
        if self.tissue is None or self.grid is None:
            return None
        if self._tissue_fraction is None or self._tissue_fraction[0] is not self.grid:
            from core.extract.tissue import patch_tissue_fraction  # local: pulls in scipy

            frac = patch_tissue_fraction(self.tissue, self.grid.coords, self.grid.patch_size_level0_px)
            self._tissue_fraction = (self.grid, frac)
        return self._tissue_fraction[1]

    # ---- selection, hover, history --------------------------------------------------------
    def set_selection(self, indices: np.ndarray) -> None:
        """Select patches ((K,) int indices; sorted, unique, checked against the bag)."""
        idx = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
        n = self.n_patches
        if idx.size and (idx[0] < 0 or idx[-1] >= n):
            raise ValueError(f"selection names patches outside 0..{n - 1}")
        self.selection = idx
        self.selection_changed.emit()

    def describe_patch(self, x: float, y: float) -> PatchReadout | None:
        """Hover readout at level-0 ``(x, y)``: patch index and corner, and per scalar layer its raw
        score, rank (1 = highest) and percentile; the gate and the top anchor when present."""
        if self.grid is None:
            return None
        i = self.grid.patch_at(x, y)
        if i < 0:
            return None
        readings: dict[str, LayerReading] = {}
        for layer in self._layers:
            if not isinstance(layer, ScalarLayer):
                continue
            if layer.name not in self._ranks:
                self._ranks[layer.name] = rank_percentile(np.nan_to_num(layer.values, nan=-np.inf))
            rank, pct = self._ranks[layer.name]
            readings[layer.name] = LayerReading(float(layer.values[i]), int(rank[i]), float(pct[i]))
        anchor = None
        if self.responses is not None and self.responses.shape[1]:
            j = int(np.argmax(self.responses[i]))
            name = self.prompts[j] if j < len(self.prompts) else f"anchor {j}"
            anchor = AnchorReading(name, float(self.responses[i, j]))
        x0, y0 = (int(v) for v in self.grid.coords[i])
        return PatchReadout(i, (x0, y0), readings, None if self.gates is None else float(self.gates[i]), anchor)

    def push_intervention(self, record: InterventionRecord, layers: tuple[Layer, ...] = ()) -> None:
        """Record an intervention result and add the maps it produced as layers."""
        for layer in layers:
            self.add_layer(layer, emit=False)
        self.history.append(record)
        if layers:
            self.layers_changed.emit()
        self.history_changed.emit()

    def undo(self) -> InterventionRecord | None:
        """Undo the last intervention (removes its layers); returns it, or ``None`` when none."""
        if not self.history:
            return None
        record = self.history.pop()
        self._layers = [x for x in self._layers if x.name not in record.layers]
        self.layers_changed.emit()
        self.history_changed.emit()
        return record

    def _say(self, level: str, text: str) -> None:
        self.messages.append((level, text))
        self.message.emit(level, text)


def _problem(path, exc: BaseException) -> str:
    """One sentence naming the file and why it could not be used."""
    if isinstance(exc, EvidentError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{path}: not enough memory to read it"
    return f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc or type(exc).__name__})"


def _infer_patch_size(coords: np.ndarray) -> int:
    """Smallest positive spacing between distinct x or y corners (fallback when the file lacks it)."""
    best = 0
    for axis in (0, 1):
        u = np.unique(coords[:, axis])
        if u.size > 1:
            d = int(np.diff(u).min())
            best = d if best == 0 else min(best, d)
    return best or 256

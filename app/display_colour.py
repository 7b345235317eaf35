"""View › True Colour and View › Stain Normalisation: how the slide's pixels are shown (docs/colour.md).

True colour converts tiles from the slide's embedded ICC profile to sRGB (on by default; nothing
changes for a slide without a profile). Stain normalisation maps the slide's stain onto a target
(Macenko: the standard reference stain unless a target image is chosen; Reinhard: a target image),
fitted once per slide on its tissue at a low level, in a background thread; the transforms run in
the tile workers (core/slide/colour.py). The choices persist in the settings and follow the user
from slide to slide; each slide gets its own fit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QMenu

from app.jobs import BackgroundCall
from core.errors import EvidentError

__all__ = ["DisplayColour"]

_STAIN_CHOICES = (("Off", None), ("&Macenko", "macenko"), ("&Reinhard", "reinhard"))


class DisplayColour(QObject):
    """Owns the colour actions of the View menu and applies them to ``view`` for each slide.

    The window calls :meth:`refresh` after it shows a new slide. Signals: ``applied(description:
    str)`` once the view draws with the current choices.
    """

    applied = Signal(str)

    def __init__(self, view, session, settings: QSettings, menu: QMenu, message: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.session, self.settings, self._message = view, session, settings, message
        self.true_colour = _bool(settings.value("colour/true_colour", True))
        method = settings.value("colour/stain", "") or None
        self.stain: str | None = method if method in ("macenko", "reinhard") else None
        target = settings.value("colour/stain_target", "") or None
        self.target_path: Path | None = Path(target) if target else None
        self._target_pixels = None
        self.job: BackgroundCall | None = None
        self._generation = 0

        menu.addSeparator()
        self.true_colour_action = QAction("True &Colour (ICC profile)", self, checkable=True)
        self.true_colour_action.setChecked(self.true_colour)
        self.true_colour_action.toggled.connect(self.set_true_colour)
        menu.addAction(self.true_colour_action)
        stain_menu = menu.addMenu("&Stain Normalisation")
        group = QActionGroup(self)
        self.stain_actions: dict[str | None, QAction] = {}
        for text, value in _STAIN_CHOICES:
            act = QAction(text, self, checkable=True)
            act.setChecked(value == self.stain)
            act.triggered.connect(lambda _=False, v=value: self.set_stain(v))
            group.addAction(act)
            stain_menu.addAction(act)
            self.stain_actions[value] = act
        stain_menu.addSeparator()
        self.target_action = QAction("Target &Image…", self)
        self.target_action.triggered.connect(self._choose_target)
        stain_menu.addAction(self.target_action)

    # ---- choices ---------------------------------------------------------------------------
    def set_true_colour(self, on: bool) -> None:
        self.true_colour = bool(on)
        self.settings.setValue("colour/true_colour", self.true_colour)
        if self.true_colour_action.isChecked() != self.true_colour:
            self.true_colour_action.setChecked(self.true_colour)
        self.refresh()

    def set_stain(self, method: str | None) -> None:
        """``"macenko"``, ``"reinhard"`` or ``None`` (off)."""
        self.stain = method
        self.settings.setValue("colour/stain", method or "")
        self.stain_actions[method].setChecked(True)
        self.refresh()

    def set_target(self, path: str | Path | None) -> bool:
        """Use the image at ``path`` as the stain target (``None``: Macenko's reference stain); a file
        that cannot be read leaves the target as it was and says why. True when it was taken."""
        if not self._load_target(path):
            return False
        self.settings.setValue("colour/stain_target", str(self.target_path or ""))
        self.refresh()
        return True

    def _load_target(self, path: str | Path | None) -> bool:
        if path is None:
            self.target_path, self._target_pixels = None, None
            return True
        from core.slide.stain import read_target_image

        try:
            pixels = read_target_image(path)
        except EvidentError as exc:
            self._message(str(exc))
            return False
        self.target_path, self._target_pixels = Path(path), pixels
        return True

    def _choose_target(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.view, "Stain target image", "",
                                              "Images (*.png *.jpg *.jpeg *.tif *.tiff)")
        if path:
            self.set_target(path)

    # ---- applying --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Compute the transforms of the shown slide for the current choices and hand them to the view."""
        reader = self.view.reader
        self._generation += 1
        if reader is None:
            return
        from core.slide.colour import icc_to_srgb

        try:
            icc = icc_to_srgb(reader) if self.true_colour else None
        except EvidentError as exc:
            self._message(str(exc))
            icc = None
        if self.stain is None:
            self._apply(reader, self._generation, (icc,) if icc is not None else ())
            return
        if self.target_path is not None and self._target_pixels is None and not self._load_target(self.target_path):
            self.target_path = None  # a remembered target that is gone: the reference stain
        method, target, generation = self.stain, self._target_pixels, self._generation

        def fit():
            from core.slide.colour import slide_stain_normaliser

            return slide_stain_normaliser(reader, method, target, before=icc)

        self.job = BackgroundCall(fit, self)
        self.job.finished.connect(lambda norm: self._apply(reader, generation,
                                                           tuple(t for t in (icc, norm) if t is not None)))
        self.job.failed.connect(lambda text: self._failed(reader, generation, icc, text))
        self._message(f"fitting {method} stain normalisation…")
        self.job.start()

    def _failed(self, reader, generation: int, icc, text: str) -> None:
        self._message(f"stain normalisation: {text}")
        self._apply(reader, generation, (icc,) if icc is not None else ())

    def _apply(self, reader, generation: int, transforms: tuple) -> None:
        if reader is not self.view.reader or generation != self._generation:
            return  # another slide, or newer choices, meanwhile
        self.view.set_colour(transforms)
        self.applied.emit(self.describe(transforms))

    def describe(self, transforms: tuple = ()) -> str:
        """The colour pipeline in words (for the status bar)."""
        from core.slide.colour import IccToSrgb

        parts = ["ICC profile → sRGB" if any(isinstance(t, IccToSrgb) for t in transforms) else None]
        normaliser = next((t for t in transforms if not isinstance(t, IccToSrgb)), None)
        if normaliser is not None:
            target = self.target_path.name if self.target_path is not None else "reference stain"
            parts.append(f"{normaliser.method} stain normalisation to {target}")
        shown = [p for p in parts if p]
        return "colour: " + (", ".join(shown) if shown else "the file's own pixels")

    def shutdown(self) -> None:
        """Wait for a stain fit in progress (the window calls it before the slide closes)."""
        if self.job is not None:
            self.job.wait()


def _bool(value) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")

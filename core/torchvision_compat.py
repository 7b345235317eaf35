"""Let ``timm``/``open_clip`` import when torchvision's compiled extension cannot load.

Why: ``timm`` and ``open_clip`` import ``torchvision`` for their image transforms. A torchvision
wheel built for another torch (for example PyPI's CUDA build of torchvision 0.28 beside the CPU
torch 2.13 Evident is tested with) ships a ``_C`` extension that fails to load. torchvision then
still imports its pure-Python parts, but ``torchvision/_meta_registrations.py`` registers fake
kernels for ``torchvision::nms`` and ``torchvision::qnms`` without checking that the operators
exist, so ``import torchvision`` raises ``RuntimeError: operator torchvision::nms does not exist``
and takes ``import timm`` down with it.

What: :func:`prepare_torchvision` is called before Evident imports ``timm`` or ``open_clip``. It
does nothing when torchvision is absent, already imported, or its extension loads (a working
torchvision is never touched). Only when the extension fails to load does it declare the two
operator *schemas* (no kernels), which is all the fake-kernel registration needs; the
pure-Python parts Evident uses (timm's models, transforms) then import and run. Calling a
torchvision detection operator (``nms``, ``roi_align``, ...) still fails, as it would have anyway;
Evident never calls one. See docs/bring_your_own.md ("torchvision").
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["prepare_torchvision", "STUB_SCHEMAS"]

#: The operators torchvision registers fake kernels for at import, with their schemas as in
#: torchvision/csrc/ops/nms.cpp.
STUB_SCHEMAS: tuple[str, ...] = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_LIBRARY = None  # the torch.library.Library holding the stub schemas; kept alive for the process
_STATUS: str | None = None


def _has_schema(name: str) -> bool:
    import torch  # local: torch only when used

    try:
        torch._C._get_schema(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def _load_extension(folder: Path) -> bool:
    """Load torchvision's ``_C`` extension as torchvision itself does; False when it cannot load."""
    import torch  # local: torch only when used

    for lib in sorted(folder.glob("_C.*")):
        if lib.suffix in (".so", ".pyd", ".dylib"):
            try:
                torch.ops.load_library(str(lib))
            except (OSError, RuntimeError, ImportError):
                return False
            return True
    return False


def prepare_torchvision(load_extension: Callable[[Path], bool] = _load_extension) -> str:
    """Make ``import torchvision`` work; return what was found.

    Parameters
    ----------
    load_extension
        Tries to load the compiled extension from torchvision's package folder (replaceable in tests).

    Returns
    -------
    str
        ``"absent"`` (not installed), ``"imported"`` (already imported), ``"native"`` (its
        extension loads: nothing changed) or ``"stubbed"`` (the two schemas were declared).
    """
    global _LIBRARY, _STATUS
    if "torchvision" in sys.modules:
        return "imported"
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return "absent"
    if _STATUS is not None:
        return _STATUS
    if all(_has_schema(s.split("(")[0]) for s in STUB_SCHEMAS) or load_extension(
            Path(next(iter(spec.submodule_search_locations)))):
        _STATUS = "stubbed" if _LIBRARY is not None else "native"
        return _STATUS
    import torch  # local: torch only when used

    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in STUB_SCHEMAS:
        if not _has_schema(schema.split("(")[0]):
            lib.define(schema)
    _LIBRARY = lib
    _STATUS = "stubbed"
    return _STATUS

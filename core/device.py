"""Choice of the torch device: CUDA when present, then Apple MPS, then CPU."""

from __future__ import annotations

from core.errors import EvidentError

__all__ = ["pick_device", "cuda_device_count"]


def pick_device(requested: str | None = None, *, float64: bool = False):
    """Return a ``torch.device``.

    Parameters
    ----------
    requested
        ``None`` or ``"auto"`` picks CUDA, then MPS, then CPU; otherwise any torch device string
        (``"cpu"``, ``"cuda:1"``, ``"mps"``).
    float64
        The work computes in float64 on the device: ``"auto"`` then skips MPS, which has no float64.

    Raises
    ------
    EvidentError
        When the requested device does not exist on this machine.
    """
    import torch  # local: torch only when used


    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if not float64 and mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(requested)
    except RuntimeError:
        raise EvidentError(None, f"unknown device {requested!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EvidentError(None, f"device {requested!r} requested but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise EvidentError(None, f"device {requested!r} requested but this machine has {n} CUDA device"
                                 f"{'s' if n != 1 else ''} (cuda:0 to cuda:{n - 1})")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EvidentError(None, f"device {requested!r} requested but MPS is not available here")
    return dev


def cuda_device_count() -> int:
    """How many CUDA devices this process sees (``CUDA_VISIBLE_DEVICES`` applies); 0 without CUDA.

    No CUDA context is created, so a process that then starts one worker per GPU
    (:mod:`core.schedule`, docs/scheduler.md) holds no GPU memory itself.
    """
    import torch  # local: torch only when used

    return int(torch.cuda.device_count())

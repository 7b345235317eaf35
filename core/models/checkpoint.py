"""Model checkpoints: weights plus a JSON config, loaded with ``torch.load(weights_only=True)`` only.

File layout: ``torch.save({"state_dict": {name: Tensor}, "config_json": str})``. The config holds
``"host"``, ``"host_config"`` (:meth:`HostConfig.to_dict`), ``"task"``, ``"classes"``,
``"version"`` and, for GCE models, ``"gce"`` (then :meth:`core.models.gce.GCEModel.from_config`
rebuilds the model). A checkpoint from elsewhere never executes code: anything but tensors,
strings and containers is refused by the safe unpickler.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from core import __version__
from core.atomic import atomic_path
from core.errors import EvidentError
from core.memory_budget import check_fits
from core.models.base import HostConfig
from core.models.gce import GCEModel
from core.models.registry import build_host

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint_config", "check_compatible", "CHECKPOINT_KEYS", "checkpoint_classes"]

CHECKPOINT_KEYS = frozenset({"state_dict", "config_json"})


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: dict) -> None:
    """Write ``model``'s weights and ``config`` to ``path`` atomically.

    Parameters
    ----------
    config
        JSON-serialisable; must hold ``"host"`` and ``"host_config"``; ``"version"`` is added when
        missing.

    Raises
    ------
    EvidentError
        Config not JSON-serialisable or missing the host entries; unwritable folder.
    """
    p = Path(path)
    config = dict(config)
    config.setdefault("version", __version__)
    for key in ("host", "host_config"):
        if key not in config:
            raise EvidentError(p, f"checkpoint config needs {key!r}")
    try:
        text = json.dumps(config)
    except (TypeError, ValueError) as exc:
        raise EvidentError(p, f"checkpoint config is not JSON-serialisable ({exc})") from None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_path(p) as tmp:
        torch.save({"state_dict": state, "config_json": text}, tmp)


def _read(p: Path, map_location) -> tuple[dict, dict]:
    if not p.is_file():
        raise EvidentError(p, "checkpoint not found")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before failing on them
            warnings.simplefilter("ignore", UserWarning)
            blob = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise EvidentError(p, f"refused: the checkpoint holds more than weights ({first[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - torch.load on damaged bytes raises almost any type
        raise EvidentError(p, f"not a readable checkpoint ({type(exc).__name__})") from None
    if torch.is_tensor(blob):
        raise EvidentError(p, f"a tensor of shape {tuple(blob.shape)}, not a model checkpoint (a feature bag? "
                              "feature .pt files are read from a pt_files/ folder)")
    if not isinstance(blob, dict) or set(blob) != CHECKPOINT_KEYS:
        keys = sorted(map(str, blob)) if isinstance(blob, dict) else type(blob).__name__
        raise EvidentError(p, f"not an Evident checkpoint (expected keys state_dict, config_json; found {keys})")
    state, text = blob["state_dict"], blob["config_json"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()) or not isinstance(text, str):
        raise EvidentError(p, "not an Evident checkpoint (state_dict must map names to tensors, config_json be text)")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidentError(p, f"checkpoint config is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise EvidentError(p, "checkpoint config is nested too deeply to read") from None
    if not isinstance(config, dict) or "host" not in config or "host_config" not in config:
        raise EvidentError(p, "checkpoint config lacks 'host'/'host_config'")
    return state, config


def read_checkpoint_config(path: str | os.PathLike) -> dict:
    """The config of the checkpoint at ``path`` (validated like :func:`load_checkpoint`)."""
    return _read(Path(path), "cpu")[1]


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model saved at ``path`` (in eval mode) and return it with its config.

    Raises
    ------
    EvidentError
        Missing file, not a checkpoint, unsafe pickle, other keys, bad config, unknown host, or
        weights that do not fit the model the config describes.
    """

    p = Path(path)
    state, config = _read(p, map_location)

    def build():
        if "gce" in config:
            return GCEModel.from_config(config)
        return build_host(str(config["host"]), HostConfig.from_dict(config["host_config"]))

    try:
        with torch.device("meta"):  # the sizes the config declares, without allocating them
            shell = build()
            n_values = sum(t.numel() for t in (*shell.parameters(), *shell.buffers()))
        check_fits(p, 4.0 * n_values, "the model its config describes")
        model = build()
    except EvidentError as exc:
        raise EvidentError(p, exc.message) from None
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError, RuntimeError, NotImplementedError) as exc:
        raise EvidentError(p, f"checkpoint config cannot build a model ({str(exc).strip()[:200]})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise EvidentError(p, f"weights do not fit the {config['host']} model ({' '.join(first[:2])[:200]})") from None
    return model.to(map_location).eval(), config


def check_compatible(config: dict, path: str | os.PathLike, against: object = None, *,
                     feature_dim: int | None = None, classes: tuple[str, ...] | None = None,
                     task: str | None = None) -> None:
    """Check that a checkpoint fits a bag or a cohort.

    Parameters
    ----------
    config
        The checkpoint config.
    path
        The checkpoint file, named in the error.
    against
        A :class:`~core.data.bag.FeatureBag` (its ``feature_dim``), a
        :class:`~core.data.manifest.Manifest` (its ``task`` and ``classes``) or a training
        :class:`~core.train.cohort.TrainCohort` (all three); the keywords below override.
    feature_dim
        D of the bags (``bag.feature_dim``).
    classes
        The manifest's classes (``manifest.classes``), compared with the checkpoint's.
    task
        The manifest's task.

    Raises
    ------
    EvidentError
        Feature width, task or classes differ.
    """
    if against is not None:
        feature_dim = feature_dim if feature_dim is not None else getattr(against, "feature_dim", None)
        task = task if task is not None else getattr(against, "task", None)
        if classes is None and task == "classification":
            classes = tuple(getattr(against, "classes", ())) or None
    hc = config.get("host_config", {})
    d = hc.get("in_dim")
    if feature_dim is not None and d is not None and int(d) != int(feature_dim):
        raise EvidentError(path, f"model expects {d} features per patch, the bags have {feature_dim}")
    if task is not None and config.get("task") not in (None, task):
        raise EvidentError(path, f"model was trained for {config.get('task')}, the cohort is {task}")
    if classes is not None and config.get("classes") is not None and tuple(config["classes"]) != tuple(classes):
        raise EvidentError(path, f"model classes {tuple(config['classes'])} differ from the cohort's {tuple(classes)}")


def checkpoint_classes(config: dict) -> tuple[str, ...] | None:
    """The class names a classifier's outputs stand for: output ``c`` is ``classes[c]``.

    ``config["classes"]`` when the checkpoint records them (``evident train`` does); otherwise the
    indices ``("0", ..., "C-1")`` of its ``host_config["n_outputs"]`` outputs, so that only labels
    written as those indices match. ``None`` for a model that is not a classifier.
    """
    if str(config.get("task", "classification")) != "classification":
        return None
    names = config.get("classes")
    if isinstance(names, (list, tuple)) and names:
        return tuple(str(c) for c in names)
    n = (config.get("host_config") or {}).get("n_outputs")
    return tuple(str(i) for i in range(int(n))) if isinstance(n, int) and n > 0 else None

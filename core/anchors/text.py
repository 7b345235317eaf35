"""Text anchors for GCE: prompt sets embedded with the text tower of a CLIP/CoCa model (open_clip).

``evident train --gce --anchors text:PROMPTS --text-encoder NAME|PATH`` (docs/bring_your_own.md):

* ``PROMPTS`` is a prompt-set file ``{"prompts": [...]}`` or a shipped family name
  (``resources/prompts/<family>.json``, :mod:`core.anchors.prompts`);
* the text encoder is an open_clip model given as a folder in open_clip's Hugging Face layout
  (``open_clip_config.json`` plus ``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``),
  or as ``hf-hub:ORG/REPO`` found in the local Hugging Face cache (``HF_HOME``; never downloaded).
  Its weights are loaded with the same checked loader as the patch encoders (:mod:`core.weights`);
* each prompt is tokenised with the model's tokenizer and embedded with
  ``model.encode_text(tokens, normalize=True)``: anchors (M, d_a) float32, unit length;
* the bank is cached as an ordinary anchor-bank file (:mod:`core.data.anchors`) under
  ``$EVIDENT_ANCHOR_CACHE`` (default ``~/.cache/evident/anchors``), keyed by the sha256 of the
  prompts, the model config and the weights file (:func:`core.hashing.file_sha256`), with a
  ``.json`` record of the bank's digest that is checked when the cache is read.

:func:`check_anchor_width` refuses a bank whose width differs from the features' width: text
anchors are compared with image features in one embedding space, so both must come from the same
vision-language model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.anchors.prompts import load_prompt_file, resolve_prompt_file
from core.data.anchors import AnchorBank, read_anchor_bank, write_anchor_bank
from core.errors import EvidentError
from core.hashing import file_sha256

__all__ = ["TextEncoderSource", "anchor_cache_dir", "check_anchor_width", "resolve_text_encoder",
           "text_anchor_bank"]

_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "model.safetensors",
                 "pytorch_model.bin")


class TextEncoderSource:
    """A resolved text encoder: its folder, config file, weights file and display name."""

    def __init__(self, folder: Path, weights: Path, name: str) -> None:
        self.folder, self.weights, self.name = folder, weights, name
        self.config = folder / "open_clip_config.json"


def anchor_cache_dir() -> Path:
    """``$EVIDENT_ANCHOR_CACHE`` or ``~/.cache/evident/anchors``."""
    return Path(os.environ.get("EVIDENT_ANCHOR_CACHE") or Path.home() / ".cache" / "evident" / "anchors")


def resolve_text_encoder(spec: str) -> TextEncoderSource:
    """``PATH`` (a folder, or a weights file inside one, with ``open_clip_config.json``) or
    ``hf-hub:ORG/REPO`` from the local Hugging Face cache.

    Raises
    ------
    EvidentError
        Not found, no config, no weights file (naming what was looked for).
    """
    spec = str(spec).strip()
    if spec.startswith(("hf-hub:", "hf_hub:")):
        repo = spec.split(":", 1)[1]
        try:
            from huggingface_hub import snapshot_download  # local: only when used

            from core.weights import hub_cache_dir  # local: only when used

            folder = Path(snapshot_download(repo, local_files_only=True, cache_dir=hub_cache_dir()))
        except Exception:  # not cached (LocalEntryNotFoundError) or huggingface_hub missing
            raise EvidentError(None, f"text encoder {repo} is not in the local Hugging Face cache (HF_HOME); "
                                     "download it first or give its folder") from None
        name = repo.replace("/", "_")
    else:
        p = Path(spec)
        if not p.exists():
            raise EvidentError(p, "text encoder not found (a folder with open_clip_config.json, or hf-hub:ORG/REPO)")
        folder, name = (p, p.name) if p.is_dir() else (p.parent, p.parent.name)
    if not (folder / "open_clip_config.json").is_file():
        raise EvidentError(folder, "no open_clip_config.json: the text encoder must be an open_clip model folder")
    if Path(spec).is_file():
        weights = Path(spec)
    else:
        found = [folder / f for f in _WEIGHT_FILES if (folder / f).is_file()]
        if not found:
            raise EvidentError(folder, f"no weights file ({', '.join(_WEIGHT_FILES)})")
        weights = found[0]
    return TextEncoderSource(folder, weights, f"open_clip:{name}")


def _embed(prompts: tuple[str, ...], source: TextEncoderSource):
    """(M, d_a) float32 unit-length text embeddings of ``prompts``."""
    import torch  # local: torch only when used

    from core.torchvision_compat import prepare_torchvision  # local: only when used
    from core.weights import load_checked, read_state_dict  # local: only when used

    prepare_torchvision()
    try:
        import open_clip  # local: open_clip only when used
    except ImportError:
        raise EvidentError(None, "text anchors need the 'foundation' extra: pip install 'evident[foundation]'") from None
    ident = f"local-dir:{source.folder}"
    try:
        model = open_clip.create_model(ident, load_weights=False)
        tokenizer = open_clip.get_tokenizer(ident)
    except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
        raise EvidentError(source.config, f"open_clip cannot build this model ({exc})") from None
    load_checked(model, read_state_dict(source.weights), source.weights, source.name)
    model.eval()
    with torch.inference_mode():
        emb = model.encode_text(tokenizer(list(prompts)), normalize=True)  # (M, d_a)
    return emb.float().numpy()


def text_anchor_bank(prompts_spec: str | os.PathLike, text_encoder: str) -> tuple[AnchorBank, Path]:
    """The bank of the prompt set embedded by the text encoder, from the cache when it is there.

    Returns
    -------
    (AnchorBank, Path)
        The bank (prompts in file order, encoder ``open_clip:<name>``) and its cache file.

    Raises
    ------
    EvidentError
        Bad prompt set or text encoder (naming the file).
    """
    prompts_file = resolve_prompt_file(prompts_spec)
    prompts = load_prompt_file(prompts_file)
    source = resolve_text_encoder(text_encoder)
    key = hashlib.sha256(json.dumps({
        "prompts": list(prompts), "config": source.config.read_text(encoding="utf-8"),
        "weights": file_sha256(source.weights)}, sort_keys=True).encode("utf-8")).hexdigest()
    cache = anchor_cache_dir() / f"text_{prompts_file.stem}_{key[:16]}.h5"
    record = cache.with_suffix(".json")
    if cache.is_file() and record.is_file():
        try:
            bank = read_anchor_bank(cache)
            if bank.digest() == json.loads(record.read_text(encoding="utf-8")).get("digest"):
                return bank, cache
        except (EvidentError, ValueError):
            pass  # a damaged cache entry is rebuilt
    bank = AnchorBank(prompts, _embed(prompts, source), source.name)
    from core.atomic import atomic_write_json  # local: only when used

    cache.parent.mkdir(parents=True, exist_ok=True)
    write_anchor_bank(cache, bank)
    atomic_write_json(record, {"digest": bank.digest(), "key": key, "prompts_file": str(prompts_file),
                               "text_encoder": source.name, "weights": str(source.weights)})
    return bank, cache


def check_anchor_width(bank: AnchorBank, bank_file: str | os.PathLike, feature_dim: int) -> None:
    """Refuse text anchors whose width d_a differs from the features' width d.

    Raises
    ------
    EvidentError
        (naming ``bank_file``) ``d_a != d``.
    """
    if bank.dim != int(feature_dim):
        raise EvidentError(bank_file, f"text anchors are {bank.dim} wide ({bank.encoder}) but the features are "
                                      f"{int(feature_dim)} wide: text anchors need image features from the same "
                                      "vision-language model (one embedding space)")

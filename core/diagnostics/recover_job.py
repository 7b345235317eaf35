"""``evident recover`` as a per-slide job of :mod:`core.schedule` (docs/scheduler.md): the GCE checkpoint
is loaded once per worker; each slide's evidence is merged into ``OUT/<slide_id>.evidence.h5``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["RecoverJob"]


@dataclass(frozen=True)
class RecoverJob:
    """``overrides``: ``(("threshold", τ), ("coverage_target", c))`` pairs that replace the checkpoint's;
    ``max_size``: cap on the subset size (patches); ``bags``: slide id -> feature file (not in the repr)."""

    model: str
    device: str
    overrides: tuple = ()
    max_size: int | None = None
    bags: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return "recover"

    def setup(self):
        """``(model on its device, config, device)``."""
        from core.device import pick_device  # local: torch only in the worker
        from core.models.checkpoint import load_checkpoint

        model, config = load_checkpoint(Path(self.model))
        if self.overrides:
            model.config = replace(model.config, **dict(self.overrides))
        device = pick_device(self.device)
        return model.to(device).eval(), config, device

    def input_key(self, slide_id: str) -> str:
        """The feature file's and the model checkpoint's path, size and mtime
        (:func:`core.schedule.job.stat_key`): re-extracted features or a retrained model under the
        same name redo the slide (docs/scheduler.md)."""
        from core.schedule.job import stat_key  # local: keeps this module light

        return stat_key(self.bags[slide_id], self.model)

    def run(self, state, slide_id: str, out_dir: Path) -> None:
        import torch  # local: only in the worker

        from core.data.bags import read_bag
        from core.diagnostics.slide_evidence import slide_evidence
        from core.evidence.evidence_file import merge_into_file

        model, config, device = state
        dim = int(config["host_config"]["in_dim"])
        task = str(config.get("task", model.host.config.task))
        classes = tuple(config.get("classes", ()))
        prompts = tuple(config["gce"].get("prompts", ()))
        with torch.no_grad():
            bag = read_bag(self.bags[slide_id], feature_dim=dim)
            ev = slide_evidence(model, bag, task=task, classes=classes, prompts=prompts,
                                max_size=self.max_size, device=device, model_name=self.model)
            ev = merge_into_file(Path(out_dir) / f"{bag.slide_id}.evidence.h5", ev)  # keeps explain's scores there
        rec = ev.subsets["recovered"]
        label = classes[ev.predicted_class] if classes and ev.predicted_class >= 0 else (
            f"risk {float(ev.risk[0]):.4g}" if ev.risk is not None else str(ev.predicted_class))
        print(f"{bag.slide_id}\t{label}\t{rec.indices.size}/{ev.n_patches} patches\t{rec.stop_reason}", flush=True)

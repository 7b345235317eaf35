"""Checkpoints: weights-only round trip for every host, refusal of anything else, compatibility checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.checkpoint import check_compatible, load_checkpoint, read_checkpoint_config, save_checkpoint
from core.models.registry import HOSTS, build_host


def _config(name: str, cfg: HostConfig) -> dict:
    return {"host": name, "host_config": cfg.to_dict(), "task": "classification", "classes": ["a", "b"]}


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_round_trip_every_host(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = HostConfig(in_dim=6, n_outputs=2, hidden=16, attn_hidden=8, extra=(("n_groups", 3),) if name == "dtfd" else ())
    host = build_host(name, cfg).eval()
    with torch.no_grad():
        host.norm_in.mean.fill_(0.5) if name.startswith("transmil") else host.norm.mean.fill_(0.5)
    x = torch.randn(9, 6)
    path = tmp_path / "m.pt"
    save_checkpoint(path, host, _config(name, cfg))
    model, config = load_checkpoint(path)
    assert config["host"] == name and config["classes"] == ["a", "b"] and "version" in config
    assert HostConfig.from_dict(config["host_config"]) == cfg
    assert not model.training
    with torch.no_grad():
        torch.testing.assert_close(model(x).output, host(x).output)
    assert read_checkpoint_config(path) == config


def test_not_a_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "notes.pt"
    bad.write_text("hello")
    with pytest.raises(EvidentError, match="notes.pt: not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(EvidentError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_other_keys_refused(tmp_path: Path) -> None:
    p = tmp_path / "raw.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, p)
    with pytest.raises(EvidentError, match="not an Evident checkpoint"):
        load_checkpoint(p)
    torch.save({"state_dict": {"w": torch.zeros(2)}, "config_json": "{not json"}, p)
    with pytest.raises(EvidentError, match="not valid JSON"):
        load_checkpoint(p)


class Payload:
    """A pickled object a weights-only load must never construct."""

    def __reduce__(self):
        return (print, ("executed!",))


def test_unsafe_pickle_refused(tmp_path: Path, capsys) -> None:
    p = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "config_json": Payload()}, p)
    before = p.read_bytes()
    with pytest.raises(EvidentError, match="refused"):
        load_checkpoint(p)
    assert "executed!" not in capsys.readouterr().out
    assert p.read_bytes() == before


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    cfg = HostConfig(in_dim=6, n_outputs=2, hidden=16, attn_hidden=8)
    host = build_host("abmil", cfg)
    p = tmp_path / "m.pt"
    save_checkpoint(p, host, _config("abmil", HostConfig(in_dim=7, n_outputs=2, hidden=16, attn_hidden=8)))
    with pytest.raises(EvidentError, match="weights do not fit the abmil model"):
        load_checkpoint(p)
    cfgd = _config("abmil", cfg) | {"host": "resnet"}
    save_checkpoint(p, host, cfgd)
    with pytest.raises(EvidentError, match="m.pt: unknown host 'resnet'"):
        load_checkpoint(p)


def test_check_compatible_names_the_file() -> None:
    cfg = _config("abmil", HostConfig(in_dim=6, n_outputs=2))
    check_compatible(cfg, "m.pt", feature_dim=6, classes=("a", "b"), task="classification")
    with pytest.raises(EvidentError, match="m.pt: model expects 6 features per patch, the bags have 1024"):
        check_compatible(cfg, "m.pt", feature_dim=1024)
    with pytest.raises(EvidentError, match="m.pt: model classes"):
        check_compatible(cfg, "m.pt", classes=("a", "b", "c"))
    with pytest.raises(EvidentError, match="trained for classification"):
        check_compatible(cfg, "m.pt", task="survival")
    from core.data.bag import FeatureBag
    from core.data.manifest import Manifest, ManifestRow

    bag = FeatureBag(np.zeros((3, 5), np.float32), np.zeros((3, 2), np.int64))
    with pytest.raises(EvidentError, match="model expects 6 features per patch, the bags have 5"):
        check_compatible(cfg, "m.pt", bag)
    manifest = Manifest(Path("c.csv"), (ManifestRow("s", "s", label="x"),), "classification", ("x", "y"))
    with pytest.raises(EvidentError, match=r"model classes \('a', 'b'\) differ"):
        check_compatible(cfg, "m.pt", manifest)


def test_save_refuses_config_without_host(tmp_path: Path) -> None:
    with pytest.raises(EvidentError, match="needs 'host'"):
        save_checkpoint(tmp_path / "m.pt", build_host("abmil", HostConfig(in_dim=3, n_outputs=2)), {"task": "x"})
    assert not (tmp_path / "m.pt").exists()

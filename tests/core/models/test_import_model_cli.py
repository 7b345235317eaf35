"""``evident import-model``: writes an ordinary Evident checkpoint with provenance; refuses a checkpoint
whose keys or shapes do not match (naming them), an unsafe pickle, and existing output, writing nothing."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from core.cli import main
from core.models.checkpoint import load_checkpoint
from testkit.peers import clam as ref_clam
from testkit.peers import transmil as ref_transmil


@pytest.fixture
def clam_file(tmp_path):
    state = ref_clam.random_state(d=12, h=8, a=4, c=3, multi=False)
    path = tmp_path / "s_0_checkpoint.pt"
    torch.save(state, path)
    return state, path


def test_import_writes_checkpoint_with_provenance(clam_file, tmp_path, capsys):
    state, path = clam_file
    out = tmp_path / "model.pt"
    assert main(["import-model", "--from", "clam_sb", str(path), "--out", str(out), "--classes", "a,b,c"]) == 0
    assert "clam_sb -> host clam_sb: 12 features in, 3 outputs" in capsys.readouterr().out
    model, config = load_checkpoint(out)  # the ordinary loader, weights_only
    prov = config["imported"]
    assert prov["peer"] == "clam_sb" and prov["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["mapping_version"] == 1 and prov["peer_code"]["repository"] == "mahmoodlab/CLAM"
    assert len(prov["peer_code"]["commit"]) == 40 and config["classes"] == ["a", "b", "c"]
    x = torch.randn(9, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(x).output, ref_clam.forward(state, x, multi=False)[0][0], atol=1e-5, rtol=1e-5)
    json.dumps(config)  # the config is plain JSON


def test_lightning_wrapper_and_prefix_are_unwrapped(tmp_path):
    s = ref_transmil.random_state(d=6, h=16, c=2)
    path = tmp_path / "epoch=3.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in s.items()}}, path)
    assert main(["import-model", "--from", "transmil", str(path), "--out", str(tmp_path / "t.pt")]) == 0
    assert load_checkpoint(tmp_path / "t.pt")[1]["host"] == "transmil_peer"


@pytest.mark.parametrize("edit,named", [
    (lambda s: s.pop("attention_net.3.attention_b.0.weight"), "missing attention_net.3.attention_b.0.weight"),
    (lambda s: s.__setitem__("attention_net.3.extra.weight", torch.zeros(2)), "unexpected attention_net.3.extra.weight"),
    (lambda s: s.__setitem__("instance_classifiers.1.weight", torch.zeros(3, 8)),
     "mis-shaped instance_classifiers.1.weight (3, 8) (expected (2, 8))"),
    (lambda s: s.__setitem__("classifiers.weight", torch.zeros(3, 5)), "mis-shaped classifiers.weight (3, 5) (expected (3, 8))"),
    (lambda s: s.pop("attention_net.0.weight"), "not a clam_sb checkpoint: missing attention_net.0.weight"),
])
def test_mismatch_is_named_and_nothing_written(clam_file, tmp_path, capsys, edit, named):
    state, path = clam_file
    edit(state)
    torch.save(state, path)
    out = tmp_path / "model.pt"
    assert main(["import-model", "--from", "clam_sb", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and named in err
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_wrong_peer_names_every_problem(clam_file, tmp_path, capsys):
    _, path = clam_file
    assert main(["import-model", "--from", "clam_mb", str(path), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "missing classifiers.0.bias, classifiers.0.weight" in err
    assert "unexpected classifiers.bias, classifiers.weight, instance_classifiers.1.bias" in err
    assert err.rstrip().endswith("(the keys match --from clam_sb)") and not (tmp_path / "m.pt").exists()


class Payload:
    def __reduce__(self):
        return (print, ("ran code",))


def test_unsafe_pickle_and_bad_input_refused(tmp_path, clam_file, capsys):
    _, good = clam_file
    bad = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "x": Payload()}, bad)
    assert main(["import-model", "--from", "clam_sb", str(bad), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr()
    assert "refused: the checkpoint holds more than weights" in err.err and "ran code" not in err.out
    (tmp_path / "m.pt").write_bytes(b"x")
    assert main(["import-model", "--from", "clam_sb", str(good), "--out", str(tmp_path / "m.pt")]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["import-model", "--from", "clam_sb", str(good), "--out", str(tmp_path / "n.pt"), "--classes", "a,b"]) == 2
    assert "--classes names 2 classes, the clam_sb model has 3 outputs" in capsys.readouterr().err
    assert main(["import-model", "--from", "xmil", str(good), "--out", str(tmp_path / "n.pt"),
                 "--peer-option", "heads=4"]) == 2
    assert "--peer-option heads is not an option of xmil (its options: attention)" in capsys.readouterr().err
    assert not (tmp_path / "n.pt").exists()


def test_cli_lists_every_peer_format():
    from core.commands.import_model import PEER_NAMES
    from core.models.peers import PEERS

    assert sorted(PEER_NAMES) == sorted(PEERS)

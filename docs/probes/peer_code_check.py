"""Imported Evident models against the peers' *actual* published code (not tests/testkit's rewrite).

Needs the peers' repositories, laid out under ``$PEERS_DIR`` (default /tmp/peercheck) as::

    clam/models/model_clam.py            mahmoodlab/CLAM
    transmil/models/TransMIL.py          szc19990412/TransMIL
    transmil/nystrom_attention/          lucidrains/nystrom-attention (its package folder)
    dsmil/dsmil.py                       binli123/dsmil-wsi
    dtfd/Model/, dtfd/utils.py           hrzhang1123/DTFD-MIL
    abmil/model.py                       AMLab-Amsterdam/AttentionDeepMIL
    xmil_main/{models,xai}/              bifold-pathomics/xMIL, branch main
    xmil_journal/{models,xai}/           bifold-pathomics/xMIL, branch xmil-journal

and ``einops`` (when it is not installed, a stand-in for the few patterns those files use is
written to ``$PEERS_DIR/shim``). Run from the repository root with ``OMP_NUM_THREADS=1
PYTHONPATH=. python docs/probes/peer_code_check.py``; it prints, per peer, the largest absolute
difference of the outputs and of the attention over bags of 1-1500 patches (docs/import_model.md).
"""
import importlib.util
import inspect
import os
import sys
import types

import torch

EINOPS = '"""Minimal stand-in for the einops patterns nystrom-attention / xMIL use (verification only)."""\nimport torch\n\n\ndef rearrange(t, pattern, **axes):\n    p = " ".join(pattern.split())\n    if p == "b n (h d) -> b h n d":\n        b, n, _ = t.shape\n        return t.reshape(b, n, axes["h"], -1).permute(0, 2, 1, 3)\n    if p == "b h n d -> b n (h d)":\n        b, h, n, d = t.shape\n        return t.permute(0, 2, 1, 3).reshape(b, n, h * d)\n    if p == "... i j -> ... j i":\n        return t.transpose(-1, -2)\n    if p == "i j -> () i j":\n        return t[None]\n    if p == "b n -> b () n":\n        return t[:, None]\n    raise NotImplementedError(pattern)\n\n\ndef reduce(t, pattern, op, **axes):\n    p = " ".join(pattern.split())\n    assert op == "sum"\n    l = axes["l"]\n    if p == "... (n l) d -> ... n d":\n        return t.reshape(*t.shape[:-2], -1, l, t.shape[-1]).sum(-2)\n    if p == "... (n l) -> ... n":\n        return t.reshape(*t.shape[:-1], -1, l).sum(-1)\n    raise NotImplementedError(pattern)\n'
R = os.environ.get("PEERS_DIR", "/tmp/peercheck").rstrip("/") + "/"
try:
    import einops  # noqa: F401
except ImportError:
    os.makedirs(R + "shim/einops", exist_ok=True)
    with open(R + "shim/einops/__init__.py", "w") as f:
        f.write(EINOPS)
    sys.path.insert(0, R + "shim")
sys.path.insert(0, "tests")
from core.models.peers import import_peer

torch.Tensor.cuda = lambda self, *a, **k: self


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m); return m


def pkg(name, path):
    m = types.ModuleType(name); m.__path__ = [path]; sys.modules[name] = m


def imported(peer, state, **kw):
    torch.save(state, f"{R}{peer}.pth")
    return import_peer(peer, f"{R}{peer}.pth", **kw)[0]


def bags(d):
    g = torch.Generator().manual_seed(7)
    return [torch.randn(n, d, generator=g) for n in (1, 2, 7, 60, 333, 1500)]


rows = []
def report(name, do, da):
    rows.append((name, do, da)); print(f"{name:28s} max|Δ output| {do:.2e}   max|Δ attention| {da:.2e}", flush=True)

torch.manual_seed(0)
# CLAM
pkg("models", R + "clam/models")
mc = load("models.model_clam", R + "clam/models/model_clam.py")
for multi in (False, True):
    peer = (mc.CLAM_MB if multi else mc.CLAM_SB)(gate=True, size_arg="small", dropout=0.25, n_classes=3, embed_dim=64).eval()
    m = imported("clam_mb" if multi else "clam_sb", peer.state_dict())
    do = da = 0.0
    with torch.no_grad():
        for x in bags(64):
            logits, _, _, a_raw, _ = peer(x)
            out = m(x)
            k = int(logits[0].argmax()) if multi else 0
            do = max(do, (out.output - logits[0]).abs().max().item())
            da = max(da, (out.attention - torch.softmax(a_raw, 1)[k]).abs().max().item())
    report("clam_mb" if multi else "clam_sb", do, da)
for k in list(sys.modules):
    if k == "models" or k.startswith("models."):
        del sys.modules[k]

# TransMIL (szc19990412) with lucidrains nystrom_attention
sys.path.insert(0, R + "transmil")
tm = load("TransMIL_peer", R + "transmil/models/TransMIL.py")
peer = tm.TransMIL(n_classes=3).eval()
m = imported("transmil", peer.state_dict())
do = 0.0
with torch.no_grad():
    for x in bags(1024)[:5]:
        ref = peer(data=x[None])["logits"][0]
        do = max(do, (m(x).output - ref).abs().max().item())
report("transmil (outputs only)", do, float("nan"))

# DSMIL
ds = load("dsmil_peer", R + "dsmil/dsmil.py")
for c in (2, 4):
    net = ds.MILNet(ds.FCLayer(in_size=64, out_size=c), ds.BClassifier(input_size=64, output_class=c)).eval()
    m = imported("dsmil", net.state_dict())
    do = da = 0.0
    with torch.no_grad():
        for x in bags(64):
            classes, bag, A, _ = net(x)
            out = m(x)
            do = max(do, (out.output - bag[0]).abs().max().item())
            da = max(da, (out.attention - A[:, int(bag[0].argmax())]).abs().max().item())
    report(f"dsmil C={c}", do, da)

# ABMIL gated (AttentionDeepMIL): the whole model on MNIST-sized images; Evident gets the conv features
ab = load("abmil_peer", R + "abmil/model.py")
net = ab.GatedAttention().eval()
m = imported("abmil", net.state_dict())
do = da = 0.0
with torch.no_grad():
    g = torch.Generator().manual_seed(3)
    for n in (1, 5, 40):
        imgs = torch.rand(1, n, 1, 28, 28, generator=g)
        y_prob, _, a = net(imgs)
        feats = net.feature_extractor_part1(imgs[0]).view(-1, 800)
        out = m(feats)
        do = max(do, (torch.softmax(out.output, 0)[1] - y_prob[0, 0]).abs().item())
        da = max(da, (out.attention - a[0]).abs().max().item())
report("abmil (Y_prob)", do, da)

# DTFD: the peer's modules and the peer's test-time loop body for the port's split
sys.modules["sklearn"] = types.ModuleType("sklearn"); sk = types.ModuleType("sklearn.metrics")
sk.roc_auc_score = sk.roc_curve = None; sys.modules["sklearn.metrics"] = sk
pkg("Model", R + "dtfd/Model")
net_m = load("Model.network", R + "dtfd/Model/network.py")
att_m = load("Model.Attention", R + "dtfd/Model/Attention.py")
utils = load("dtfd_utils", R + "dtfd/utils.py")
for distill in ("AFS", "MaxMinS", "MaxS"):
    classifier = net_m.Classifier_1fc(128, 2, 0.0).eval()
    attention = att_m.Attention_Gated(128).eval()
    dim_red = net_m.DimReduction(64, 128, numLayer_Res=0).eval()
    att_cls = att_m.Attention_with_Classifier(L=128, num_cls=2, droprate=0.0).eval()
    sd = {"classifier": classifier.state_dict(), "dim_reduction": dim_red.state_dict(), "attention": attention.state_dict(),
          "att_classifier": att_cls.state_dict()}
    m = imported("dtfd", sd, options={"distill": distill})
    do = 0.0
    with torch.no_grad():
        for x in bags(64)[2:]:
            chunks = [gr.tolist() for gr in m._groups(x)]
            mid = dim_red(x); AA = attention(mid, isNorm=False).squeeze(0); d_feat = []
            for tindex in chunks:
                idx = torch.LongTensor(tindex); tmid = mid.index_select(0, idx)
                tAA = torch.softmax(AA.index_select(0, idx), 0); tatt = torch.einsum("ns,n->ns", tmid, tAA)
                tattF = tatt.sum(0).unsqueeze(0)
                logits = utils.get_cam_1d(classifier, tatt.unsqueeze(0)).squeeze(0).transpose(0, 1)
                _, s_idx = torch.sort(torch.softmax(logits, 1)[:, -1], descending=True)
                if distill == "MaxMinS":
                    d_feat.append(tmid.index_select(0, torch.cat([s_idx[:1], s_idx[-1:]])))
                elif distill == "MaxS":
                    d_feat.append(tmid.index_select(0, s_idx[:1]))
                else:
                    d_feat.append(tattF)
            ref = att_cls(torch.cat(d_feat, 0))[0]
            do = max(do, (m(x).output - ref).abs().max().item())
    report(f"dtfd {distill} (outputs)", do, float("nan"))

# xMIL main and journal branches
for branch in ("xmil_main", "xmil_journal"):
    for k in list(sys.modules):
        if k in ("models", "xai") or k.startswith(("models.", "xai.")):
            del sys.modules[k]
    pkg("models", R + f"{branch}/models"); pkg("xai", R + f"{branch}/xai")
    am = load("models.attention_mil", R + f"{branch}/models/attention_mil.py")
    params = inspect.signature(am.AttentionMILModel).parameters
    kw = {"num_classes": 3} if "num_classes" in params else {"head_dim": 3}
    net = am.AttentionMILModel(input_dim=64, features_dim=32, inner_attention_dim=16, **kw).eval()
    m = imported("xmil", net.state_dict())
    do = da = 0.0
    with torch.no_grad():
        for x in bags(64):
            res = net(x, torch.tensor([x.shape[0]]))
            out = m(x)
            do = max(do, (out.output - res[0]).abs().max().item())
            da = max(da, (out.attention - torch.softmax(net.attention_scores, 0)[:, 0]).abs().max().item())
    report(f"{branch} attention MIL", do, da)
    tmx = load("models.transmil", R + f"{branch}/models/transmil.py")
    params = inspect.signature(tmx.TransMIL).parameters
    for method in ("nystrom", "dot_prod"):
        kw = {"n_classes": 3} if "n_classes" in params else {"head_dim": 3}
        net = tmx.TransMIL(n_feat_input=64, n_feat=32, device="cpu", attention=method, **kw).eval()
        m = imported("xmil", net.state_dict(), options={"attention": method})
        do = 0.0
        with torch.no_grad():
            for x in bags(64)[:5]:
                res = net(x[None])
                do = max(do, (m(x).output - res[0]).abs().max().item())
        report(f"{branch} TransMIL {method}", do, float("nan"))

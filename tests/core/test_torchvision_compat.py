"""The torchvision shim: schemas declared only when the compiled extension cannot load.

Each case runs in a fresh interpreter (torch's operator registry and ``sys.modules`` are per process).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip()


def test_extension_that_cannot_load_gets_the_two_schemas_and_timm_imports():
    out = _run("""
        from core.torchvision_compat import prepare_torchvision, _has_schema
        status = prepare_torchvision(load_extension=lambda folder: False)
        import torchvision, timm
        m = timm.create_model("resnet18", pretrained=False, num_classes=0, layers=[1, 1, 1, 1])
        print(status, _has_schema("nms"), _has_schema("qnms"), prepare_torchvision())
    """)
    assert out.splitlines()[-1] == "stubbed True True imported"


def test_working_extension_is_left_alone():
    """When the extension loads, nothing is declared (here the loader is faked, so no schema exists)."""
    out = _run("""
        from core.torchvision_compat import prepare_torchvision, _has_schema
        seen = []
        status = prepare_torchvision(load_extension=lambda folder: seen.append(folder.name) or True)
        print(status, _has_schema("nms"), seen)
    """)
    assert out.splitlines()[-1] == "native False ['torchvision']"


def test_default_loader_makes_torchvision_importable():
    """Whatever torchvision this machine has (working or a mismatched build), timm imports after it."""
    out = _run("""
        import importlib.util
        from core.torchvision_compat import prepare_torchvision
        status = prepare_torchvision()
        import torchvision.transforms, timm
        print(status)
    """)
    assert out.splitlines()[-1] in ("native", "stubbed")

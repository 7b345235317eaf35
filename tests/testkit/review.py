"""A viewer project on the real CMU slide: slides/<cmu>.svs (a link), features/, evidence/, annotations/."""

from __future__ import annotations

from pathlib import Path

from core.review.demo import write_demo_project


def demo_project_on(slide: Path, root: Path) -> dict[str, Path]:
    """Write the demo project for ``slide`` under ``root``; returns its paths (``slide``, ``features``,
    ``evidence``, ``annotations``, ..., and ``root``)."""
    paths = write_demo_project(slide, root)
    (root / "slides").mkdir()
    paths["slide"] = root / "slides" / slide.name
    paths["slide"].symlink_to(slide)
    paths["root"] = root
    return paths

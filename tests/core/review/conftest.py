"""A demo review project on the real CMU slide, and a review session with it open."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def review_project(cmu_slide, tmp_path_factory):
    """``{"slide", "features", "evidence", "annotations", "root"}`` of a demo project (real tissue)."""
    from core.review.demo import write_demo_project

    root = tmp_path_factory.mktemp("review_project")
    paths = write_demo_project(cmu_slide, root, patch_size=256)
    paths["root"] = root
    return paths


@pytest.fixture
def opened(review_project):
    """A ReviewSession with the demo project's slide, features, evidence and annotations open."""
    from core.review.session import ReviewSession

    s = ReviewSession()
    s.open([review_project[k] for k in ("slide", "features", "evidence", "annotations")])
    yield s
    s.close()

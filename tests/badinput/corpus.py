"""The bad-input corpus: ≥ 150 damaged inputs made at test time from the real fixtures.

Each case is a function ``make(d, fx) -> Run`` that writes its damaged input(s) into the empty
folder ``d`` (from the real CMU slide, real Musk1 bags and a small real checkpoint in ``fx``) and
returns the ``evident`` command to run on them and the file the error must name. The test
(:mod:`tests.badinput.test_corpus`) checks for every case: exit status 2, exactly one stderr line
``error: <culprit>: …``, no traceback, and ``d`` unchanged afterwards (inputs byte-identical, no
output or temporary left behind). Families: slides, bags, manifests, GeoJSON/XML annotations,
checkpoints, anchor banks, MIL CSVs, evidence files, output paths.
"""

from __future__ import annotations

import corpus_files  # noqa: F401 - registers its cases
import corpus_tables  # noqa: F401 - registers its cases
from corpus_base import CASES, Fixtures, Run, huge_bag, huge_tiff

__all__ = ["Fixtures", "Run", "CASES", "huge_bag", "huge_tiff"]

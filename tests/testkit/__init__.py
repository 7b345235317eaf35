"""Shared test helpers (tiny models, bags, cohorts), imported as a package: ``from testkit.explain import abmil``.

``tests/`` is on pytest's ``pythonpath`` (pyproject.toml), so no test edits ``sys.path``.
"""

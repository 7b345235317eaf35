"""Cohort-scale outputs: ensemble maps over fold models (docs/ensemble_maps.md) and per-slide HTML
evidence reports (docs/reports.md)."""

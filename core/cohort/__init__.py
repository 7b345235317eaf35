"""Cohort-scale outputs made from per-slide evidence: heatmaps (``evident heatmaps``, docs/heatmaps.md),
ensemble maps over fold models (docs/ensemble_maps.md) and per-slide HTML evidence reports
(docs/reports.md)."""

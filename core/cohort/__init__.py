"""Cohort-scale outputs made from per-slide evidence: heatmaps (``evident heatmaps``, docs/heatmaps.md)."""

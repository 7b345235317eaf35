"""Evidence: noisy-OR coverage and threshold-plus-repair recovery (numpy), selection rules, S/N/R
numbers, the per-slide evidence file, and the cross-validated evidence benchmark.

Modules: :mod:`coverage`, :mod:`recovery` (numpy only); :mod:`selection`, :mod:`snr`,
:mod:`slide_evidence` (torch); :mod:`evidence_file` (HDF5); :mod:`benchmark`, :mod:`reproduce`.
"""

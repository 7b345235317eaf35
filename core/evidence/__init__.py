"""Evidence maths: noisy-OR coverage and threshold-plus-repair recovery (numpy), selection rules,
S/N/R numbers and the per-slide evidence file. Nothing here trains or builds a model: the GCE
experiment drivers (cross-validated training, benchmark, reproduction, diagnosis) live in
:mod:`core.train` (``gce_cv``, ``gce_benchmark``, ``gce_reproduce``, ``gce_diagnosis``).

Modules: :mod:`coverage`, :mod:`recovery` (numpy only); :mod:`selection`, :mod:`snr`,
:mod:`slide_evidence` (torch); :mod:`evidence_file` (HDF5).
"""

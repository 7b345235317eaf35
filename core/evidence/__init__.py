"""Evidence maths: noisy-OR coverage, threshold-plus-repair recovery and its lazy exact argmax
(numpy only), and the per-slide evidence file (HDF5). Nothing here runs or trains a model: subset
rules under a model live in :mod:`core.models.subset_rules`, S/N/R numbers in
:mod:`core.diagnostics` (``snr``, ``cohort_snr``, ``slide_evidence``), the GCE experiment drivers in
:mod:`core.train` (``gce_cv``, ``gce_benchmark``, ``gce_reproduce``, ``gce_diagnosis``).

Modules: :mod:`coverage`, :mod:`recovery`, :mod:`lazy_argmax`, :mod:`evidence_file`.
"""

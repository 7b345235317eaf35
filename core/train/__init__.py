"""Training and evaluation of MIL hosts.

``cohort`` (manifest + bags in memory), ``splits`` (repeated stratified k-fold by case),
``objective`` (objectives and model factories: the GCE seam), ``trainer`` (one split),
``cv`` (the resumable cross-validation runner behind ``evident train``), ``metrics``, ``report``
(output files) and ``reproduce`` (the published MIL-benchmark numbers).
"""

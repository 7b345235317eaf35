"""Data the rest of Evident reads and writes.

``bag`` (the in-memory FeatureBag), ``bags`` (CLAM / TRIDENT HDF5 and ``.pt`` feature files),
``manifest`` (cohort CSV), ``annotations`` (QuPath GeoJSON, ASAP / ImageScope XML, patch labels),
``anchors`` (anchor banks), ``mil_csv`` (MIL benchmark CSVs), ``realdata`` (the real test data).
Import the modules themselves; this package imports nothing so that ``import core`` stays light.
"""

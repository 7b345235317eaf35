"""Evident core: slides, feature bags, MIL hosts, GCE evidence, explanations and diagnostics.

Nothing in this package imports Qt; the GUI in ``app`` reaches torch, OpenSlide and HDF5 only
through here.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"

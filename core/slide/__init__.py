"""Slide access: reader (OpenSlide + plain images), pure tiling math, byte-bounded tile cache,
Qt-free background tile loader, and the large real-tissue pyramid TIFF used for benchmarks.

Import from the modules (``core.slide.reader``, ``core.slide.tiling``, ``core.slide.cache``,
``core.slide.loader``, ``core.slide.pyramid``); this package imports nothing so that ``import core``
stays light.
"""

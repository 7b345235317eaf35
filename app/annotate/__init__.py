"""Annotation editing in the viewer: tools, overlay, the Annotations dock (docs/annotate.md)."""

"""Explanation methods: one per file, one interface (:class:`core.explain.base.Explainer`)."""

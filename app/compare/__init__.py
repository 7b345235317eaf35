"""Multi-pane comparison of evidence maps: synchronised slide views, swipe, difference, agreement."""

"""Qt-free review-session state, file matching and overlay maths for the desktop viewer."""

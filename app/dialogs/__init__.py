"""Dialogs of the review workflows: locating moved files, background jobs."""

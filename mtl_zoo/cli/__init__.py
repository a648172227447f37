"""Command lines (absl-py), installed as console entry points; scripts/ holds thin wrappers."""

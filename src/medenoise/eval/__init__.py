"""Evaluation: image-quality metrics with explicitly named protocols."""

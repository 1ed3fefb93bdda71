"""Noise inspection: measure an image's noise (level, signal dependence, spatial correlation,
clipping) before trusting a denoiser with it, and say in words what will work.

`profile.py` holds the result types every other part reads (`NoiseProfile`, `Verdict`); the
estimators fill them.
"""

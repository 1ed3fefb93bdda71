"""Inference: how a model is found (`resolve`), how it runs (`options`, `denoiser`, backends).

Nothing here imports training: loading a model for denoising needs only the method classes
and the model file.
"""

"""Inference: how a model is found (`resolve`), how it runs (`options`, `denoiser`, the
runners in `runners` and `onnx`), and the padding the networks need (`padding`).

Nothing here imports training: loading a model for denoising needs only the method classes
and the model file.
"""

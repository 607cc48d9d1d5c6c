"""Derived, faster model files: `kokoro-server optimize` (needs the onnx package)."""

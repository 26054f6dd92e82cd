"""Running embedding networks: torch and onnxruntime embedders, preprocessing, precision."""

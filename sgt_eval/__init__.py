"""sgt-eval: evaluate, probe and compare unified multimodal models trained with SGT."""

__version__ = "0.1.0"

"""spaCy pipeline components built on PyTorch recurrent networks."""
__version__ = "0.1.0"

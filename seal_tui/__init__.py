"""seal-tui: a terminal lab console for SEAL (Self-Adapting Language Models)."""

__version__ = "0.1.0"

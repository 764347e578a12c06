"""The console's widgets, one module each; each renders a part of a ``RunState``."""

"""Experiment trackers (``run.report_to``; ``seal-tui export RUN --to NAME``): a run's figures
mirrored into TensorBoard, Weights & Biases or trackio.

- ``figures``: what the events become (scalars on an axis, tables, the config as hyperparameters);
- ``backends``: each tracker behind ``open`` / ``write`` / ``close``, its library imported only there;
- ``mirror``: the engine's live mirror (a thread reading the run's events back from the store) and
  the export of a stored run.

Torch-free: the console imports this package for the export.
"""

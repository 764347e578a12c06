"""The console's screens: runs (home), new run, run dashboard, and the dialogs."""

"""What the tests share that is not a fixture: paths, polling, the engine's command line,
tiny models, a local judge server, Pilot and tmux helpers. Fixtures live in conftest.py."""

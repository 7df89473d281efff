"""The shared core every other package builds on: the results contract, metrics, the registry of pipelines'
variants, raw-folder access, input checks and the training scaffold. It imports nothing from the rest of
``engagement_lab`` (the import contracts in ``pyproject.toml`` say so and ``make test`` checks it)."""

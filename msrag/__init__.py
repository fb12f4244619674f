"""The `msrag` command: composes each layer's commands (see `msrag/cli.py`)."""

"""`python -m msrag` runs the `msrag` command."""

from msrag.cli import main

main()

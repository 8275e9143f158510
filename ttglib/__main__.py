"""``python -m ttglib`` runs the ``ttg`` command."""

from ttglib.cli import main

main()

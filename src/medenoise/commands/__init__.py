"""Typer sub-apps registered on the `medenoise` command line (one module per command group)."""

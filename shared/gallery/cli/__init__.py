"""The `gallery` command line."""

from gallery.cli.app import app, main

__all__ = ["app", "main"]

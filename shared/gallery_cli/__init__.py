"""The `gallery` command line."""

from gallery_cli.app import app, main

__all__ = ["app", "main"]

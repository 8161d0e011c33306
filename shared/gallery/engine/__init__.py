"""The image engine: bytes in, renditions and facts out. Pure: no I/O, no clients."""

from gallery.engine.render import render

__all__ = ["render"]

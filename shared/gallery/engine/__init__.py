"""The image engine: bytes in, renditions and facts out. Pure: no I/O, no clients."""

from gallery.engine.memory import estimate_render, estimate_render_mib
from gallery.engine.render import render

__all__ = ["estimate_render", "estimate_render_mib", "render"]

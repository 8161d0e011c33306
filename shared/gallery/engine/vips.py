"""Import pyvips configured for one libvips thread per render and no operation cache.

Several photos render at once in threads (pyvips releases the GIL), so each render uses a single libvips
worker thread and the cache, which would only hold on to pixels between unrelated photos, is off.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("VIPS_CONCURRENCY", "1")

import pyvips

pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)
pyvips.concurrency_set(int(os.environ["VIPS_CONCURRENCY"]))
# Loaders libvips marks untrusted (e.g. ImageMagick, matload, FITS) never see user bytes.
pyvips.block_untrusted_set(True)
logging.getLogger("pyvips").setLevel(logging.WARNING)

__all__ = ["pyvips"]

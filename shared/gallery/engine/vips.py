"""Import pyvips configured for one libvips thread per render and no operation cache; tune glibc's malloc for renders.

Several photos render at once in threads (pyvips releases the GIL), so each render uses a single libvips
worker thread and the cache, which would only hold on to pixels between unrelated photos, is off.

glibc's malloc, left alone, keeps a render's freed pixel buffers: its mmap threshold grows to 32 MiB after the
first large free, so later multi-MiB buffers come from the heap, fragment it and stay resident, and every libvips
thread may get an arena of its own. Measured on the 20 MP JPEG (bench/results.md), four renders in a row
left RSS 120 MiB above idle and the sustained peak per concurrent task was ~95 MiB; with the threshold fixed at
128 KiB (large buffers are mmapped and go back to the OS on free) and at most two arenas it is ~45 MiB per
task and RSS returns to idle between photos, for ~2-4 % more CPU. `MALLOC_MMAP_THRESHOLD_` / `MALLOC_ARENA_MAX`
in the environment take precedence. The tuning is applied by the first render (`ensure_malloc_tuned`), not at
import: with the low threshold in force, every module imported afterwards (the clients, the framework) loads
~10 % slower, which would add to the function's cold start.
"""

from __future__ import annotations

import logging
import os
from functools import cache

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Apply the mmap threshold and arena cap unless the environment sets them; False where not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's soname; find_library would spawn ldconfig
    except OSError:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
        except OSError:
            return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, ARENA_MAX)
    return True


@cache
def ensure_malloc_tuned() -> bool:
    """Tune malloc once per process (before the first render's buffers are allocated)."""
    tuned = tune_malloc()
    if not tuned:
        logger.debug("not glibc: malloc left untuned")
    return tuned


os.environ.setdefault("VIPS_CONCURRENCY", "1")

import pyvips  # noqa: E402  (after VIPS_CONCURRENCY is set above)

pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)
pyvips.concurrency_set(int(os.environ["VIPS_CONCURRENCY"]))
# Loaders libvips marks untrusted (e.g. ImageMagick, matload, FITS) never see user bytes.
pyvips.block_untrusted_set(True)
logging.getLogger("pyvips").setLevel(logging.WARNING)

__all__ = ["pyvips"]

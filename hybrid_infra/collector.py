"""Python's cyclic collector paused while a burst of long-lived objects is made.

A simulation and the plan written from it make tens of thousands of objects that live on, and set
off collections that find next to nothing to free but walk ever more objects. The offline runtime
(:data:`hybrid_infra.offline.simulate.offline_runtime`) pauses the collector while it is on; nothing
else does, importing the package least of all. :func:`pause` turns automatic collection off, and when
it ends puts everything made meanwhile in the oldest generation (``gc.freeze`` then
``gc.unfreeze``): left in the youngest, it would all be walked by the next collection at once.
Objects someone else froze are theirs: the pause then leaves the permanent generation alone.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def pause() -> Iterator[None]:
    """No automatic collection inside; after, the collector as it was, its young generation empty."""
    collecting = gc.isenabled()
    freezing = gc.get_freeze_count() == 0
    gc.disable()
    if freezing:
        gc.freeze()  # what was alive before is not walked by any collection the block asks for
    try:
        yield
    finally:
        if freezing:
            gc.freeze()
            gc.unfreeze()
        if collecting:
            gc.enable()

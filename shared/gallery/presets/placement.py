"""Where an overlay goes: its anchor inside the rendition, inset by the margin."""

from __future__ import annotations


def place(anchor: str, box: tuple[int, int], size: tuple[int, int], inset: int) -> tuple[int, int]:
    """Top-left corner of an overlay of `size` anchored in a `box` (width, height) inset by `inset` pixels."""
    (box_w, box_h), (w, h) = box, size
    vertical, _, horizontal = anchor.partition("-") if "-" in anchor else (anchor, "", anchor)
    if horizontal == "left":
        x = inset
    elif horizontal == "right":
        x = box_w - inset - w
    else:
        x = (box_w - w) // 2
    if vertical == "top":
        y = inset
    elif vertical == "bottom":
        y = box_h - inset - h
    else:
        y = (box_h - h) // 2
    return x, y

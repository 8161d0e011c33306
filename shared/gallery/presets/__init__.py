"""Presets: operator-defined derivative rendition sets (crops, filters, text and image overlays, languages).

model (what a presets file may say), load (read and check it), plan (which presets a photo gets), fonts
(bundled Noto faces and script coverage), filters, crop, text and overlays (pixels), render (variants from the
default set's decode), manifest (object names and document fields).
"""

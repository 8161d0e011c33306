"""Perceptual image metrics."""

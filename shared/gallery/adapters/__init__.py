"""Adapters: each wraps one Google Cloud client behind a port from `gallery.ports`."""

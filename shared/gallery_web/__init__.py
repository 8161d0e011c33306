"""The local gallery page: a small Flask server over Firestore and a static page (``python -m gallery_web``)."""

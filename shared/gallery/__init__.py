"""gallery-backend: photos dropped into a bucket become renditions plus a Firestore record."""

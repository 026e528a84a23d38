"""The store: the stored format, the LMDB layout, the one write transaction, lock-free snapshots."""

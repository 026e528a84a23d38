"""Answering queries: query bytes and a store snapshot in, response bytes out (no I/O)."""

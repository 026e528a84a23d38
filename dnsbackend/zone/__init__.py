"""Zone files: records, the BIND reader and its fast path, checks, records turned into nodes."""

"""DNS wire format: type and response codes, query parsing, a compressing encoder."""

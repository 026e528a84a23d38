"""DNSSEC signing of plain zones: keys (keys), the NSEC/NSEC3 chains (chain), signatures
(signer). Used by update.jobs inside the write transaction."""

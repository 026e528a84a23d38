"""The network layer: sockets, UDP (batched on Linux) and TCP, moving bytes to the responder."""

"""``TLSSocket``, the socket facade over an engine and a pump, and what hangs off it."""

"""Servers and clients: ``Server``, ``connect``, SNI, workers, ``SecurePair``."""

"""I/O: the pumps that move an engine's bytes over a transport and the one retry loop."""

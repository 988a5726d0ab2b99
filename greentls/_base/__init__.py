"""The lowest layer: the exception hierarchy, the one shim over OpenSSL's raw bindings, and the capability probes."""

"""The sans-I/O TLS engine: a pyOpenSSL connection as a state machine over bytes."""

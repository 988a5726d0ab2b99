"""Configuration: options, ciphers, key material and the OpenSSL contexts built from them (``SecureContext``)."""

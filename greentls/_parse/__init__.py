"""Pure parsers and checks over bytes and certificates: no sockets, no OpenSSL connections."""

"""Integrations: the command line."""

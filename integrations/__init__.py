"""Adapters to the outside world: chat channels, the CCC registry, the back office."""

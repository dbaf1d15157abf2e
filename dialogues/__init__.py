"""Deciding what to say: flows and reply texts as YAML, and the engine that runs them."""

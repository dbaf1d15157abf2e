"""The Rasa model fixture of the understanding tests, for the Rasa image's entry point."""

from tests.nlu.conftest import rasa_model

__all__ = ["rasa_model"]

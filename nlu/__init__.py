"""Understanding text: the Rasa client, entity normalisation and the rule fallback."""

"""HTTP routes: health, the REST channel, the web chat page."""

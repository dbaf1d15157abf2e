"""The Weiquan application: settings, app factory, pipeline, persistence, cases, CLI."""

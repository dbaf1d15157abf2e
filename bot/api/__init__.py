"""The staff API under ``/api/v1``: bearer tokens, cases, the handover queue, the dashboard."""

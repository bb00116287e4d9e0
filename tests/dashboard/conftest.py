"""Fixtures of the dashboard tests; the helpers themselves live in dashboard_helpers.py."""

from dashboard_helpers import start_dashboard  # noqa: F401  (a fixture)

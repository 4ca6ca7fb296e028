"""Practicum's web UI: a Reflex app that talks to the API only through GraphQL."""

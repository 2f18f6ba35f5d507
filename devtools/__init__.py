"""Tools for running and testing the service locally; not part of the shipped package."""

"""Occasion types. A new type is one module here plus one `register(...)` line in registry.py."""

from .registry import OccasionType, all_types, first_occurrences, get, register

__all__ = ["OccasionType", "all_types", "first_occurrences", "get", "register"]

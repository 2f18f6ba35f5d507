"""Imports every module that connects signal receivers, so they are live in every process."""

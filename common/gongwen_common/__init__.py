"""Shared infrastructure for Gongwen services: no domain rules live here."""

"""Seal service: the operator CA and each unit's electronic seal (电子印章)."""

"""Fuzz tests: random and malformed requests against a real server process."""

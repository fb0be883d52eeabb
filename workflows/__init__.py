"""Temporal workflow definitions: deterministic code only (no I/O, no Flask, no SQLAlchemy)."""

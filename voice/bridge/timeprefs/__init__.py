"""Time preferences: German and English availability phrases to one constraint object, and that object
resolved against a business calendar. Pure code: no I/O, no database."""
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

__all__ = ["TimeConstraint", "TimeWindow"]

"""live: real-time control of a live-shopping room."""

__version__ = "0.1.0"

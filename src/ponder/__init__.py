"""ponder: reasoning models that learn to think and turn test-time compute into better answers."""

__version__ = "0.1.0"

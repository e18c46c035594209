"""Bridges to other libraries' trainers and formats (``ponder.integrations.trl``).

Each module imports its library only when used, and the library is an optional extra
(``pip install ponder[trl]``).
"""

"""The store: source data, quarantine, scorecard versions and snapshots.

One SQLAlchemy Core layer serves the embedded DuckDB file and PostgreSQL alike.
"""

from kenko.store.store import Store, open_store

__all__ = ["Store", "open_store"]

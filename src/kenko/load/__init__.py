"""Loading source files into the store, with a quarantine for rows that fail checks.

``load_files`` reads CSV (plain or gzipped) and Parquet exports of accounts,
subscriptions and events, maps their columns onto kenko's fields (``kenko.yaml``),
parses and checks every row, and writes each file in one transaction: its ``loads``
row, its rejected rows (``quarantine``) and its accepted rows.
"""

from kenko.load.loader import FileReport, Rejection, load_files

__all__ = ["FileReport", "Rejection", "load_files"]

"""The `kenko` command line."""

"""kenko: customer health scores that prove they predict renewals."""

__version__ = "0.1.0"

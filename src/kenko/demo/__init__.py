"""A seeded sample company: the files ``kenko demo`` loads and scores.

``generate`` writes accounts, subscriptions and events of a simulated SaaS company
(see :mod:`kenko.demo.company`), plus a ``kenko.yaml`` that maps them and a DEAR
``scorecard.yaml`` that scores them. The same seed always writes the same bytes.
"""

from kenko.demo.generator import DemoFiles, generate

__all__ = ["DemoFiles", "generate"]

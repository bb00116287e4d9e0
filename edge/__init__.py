"""microexpr: the device software of the tabletop micro-expression unit.

Data flows sources -> vision -> spotting -> events (outbox) -> publish -> dashboard.
"""

__version__ = "0.1.0"

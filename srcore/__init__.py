"""srcore: models, losses, data, metrics, inference, training and evaluation for x4 super-resolution.

The dashboard (``dashboard/``) imports this package; this package never imports the dashboard.
"""

__version__ = "0.1.0"
SCALE = 4

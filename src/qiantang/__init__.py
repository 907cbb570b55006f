"""钱塘 Qiantang: a platform for a city's local financial regulator."""

__version__ = "0.1.0"

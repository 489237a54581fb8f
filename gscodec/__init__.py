"""gscodec: a video codec whose unit of representation is the Gaussian splat."""

__version__ = "0.1.0"

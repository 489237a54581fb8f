"""The Gaussian model: the attribute table (params) and the TSW Gaussians with their projection (tsw)."""

from gscodec.model.tsw import Gaussians, MotionMode, Splats2D, covariances, project, project_frames

__all__ = ["Gaussians", "MotionMode", "Splats2D", "covariances", "project", "project_frames"]

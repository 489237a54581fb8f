"""YUV4MPEG2 (y4m) output: the stream header, the frame marker and the RGB to Y'CbCr matrix.

gscodec writes y4m as 8-bit 4:4:4 (``C444``), so no chroma is thrown away, converted from
RGB with the BT.601 matrix in limited ("studio", MPEG) range: Y' in [16, 235], Cb and Cr in
[16, 240]. That is what y4m consumers (FFmpeg, ffplay, x264) assume when a stream carries
no colour tags, and the header also says ``XCOLORRANGE=LIMITED`` for the readers that look.
Reading such a stream back through FFmpeg's converter (what :func:`gscodec.video.open_video`
does) returns every one of the 2^24 RGB colours within 2 of its value per channel (mean
absolute error about 0.4).

Reading y4m is left to FFmpeg (through PyAV), which knows every chroma layout and bit depth.
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from gscodec.errors import InputError

#: The line that precedes every frame's samples (gscodec writes no frame parameters).
FRAME_MARKER = b"FRAME\n"

# BT.601 luma weights and the limited-range scale factors (219 luma steps, 224 chroma steps).
_KR, _KG, _KB = 0.299, 0.587, 0.114
_Y_SCALE = 219.0 / 255.0
_C_SCALE = 224.0 / 255.0

#: Rows Y', Cb, Cr; columns R, G, B, offset. Applied to 8-bit RGB, rounded, saturated.
RGB_TO_YCBCR_601_LIMITED = np.array(
    [
        [_KR * _Y_SCALE, _KG * _Y_SCALE, _KB * _Y_SCALE, 16.0],
        [
            -_KR / (2.0 * (1.0 - _KB)) * _C_SCALE,
            -_KG / (2.0 * (1.0 - _KB)) * _C_SCALE,
            0.5 * _C_SCALE,
            128.0,
        ],
        [
            0.5 * _C_SCALE,
            -_KG / (2.0 * (1.0 - _KR)) * _C_SCALE,
            -_KB / (2.0 * (1.0 - _KR)) * _C_SCALE,
            128.0,
        ],
    ],
    dtype=np.float64,
)

_MATRIX_F32 = RGB_TO_YCBCR_601_LIMITED.astype(np.float32)


def header(width: int, height: int, fps: Fraction) -> bytes:
    """The stream header line for 8-bit 4:4:4, progressive, square pixels, limited range."""
    if width < 1 or height < 1:
        raise InputError(f"cannot write a {width}x{height} y4m stream; both sides must be at least 1")
    if fps <= 0:
        raise InputError(f"frame rate {fps} is not positive")
    return (
        f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A1:1 "
        "C444 XYSCSS=444 XCOLORRANGE=LIMITED\n"
    ).encode("ascii")


def rgb_to_ycbcr444(rgb: np.ndarray) -> bytes:
    """The Y', Cb and Cr planes (in that order, each H x W bytes) of one (H, W, 3) uint8 frame.

    Computed in single precision and rounded to nearest (OpenCV's 8-bit ``transform`` path
    uses 10-bit fixed point and misses by up to 0.62, so it is not used).
    """
    ycc = cv2.transform(rgb.astype(np.float32), _MATRIX_F32)  # (H, W, 3) float32
    planar = cv2.convertScaleAbs(ycc).transpose(2, 0, 1)  # rounds and saturates to uint8
    return np.ascontiguousarray(planar).tobytes()

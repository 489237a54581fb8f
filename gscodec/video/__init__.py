"""Video in and out: frames as (H, W, 3) uint8 RGB arrays, streamed one at a time.

Reading (:func:`open_video`): any file FFmpeg opens, a folder of PNG frames, or y4m on
standard input; one converter (FFmpeg's, through PyAV) turns every pixel format into 8-bit
RGB, and each reader says in ``notes`` what that cost (bit depth, gray, alpha).

Writing (:func:`open_writer`): a PNG folder, y4m (a file or standard output) or H.264 in
mp4/mkv, atomically: the result appears complete or not at all.

Details are in :mod:`gscodec.video.reader`, :mod:`gscodec.video.writer` and
:mod:`gscodec.video.y4m`.
"""

from gscodec.video.reader import DEFAULT_FPS, VideoInfo, VideoReader, open_video, to_rgb24
from gscodec.video.writer import KINDS, QUALITIES, VideoWriter, infer_kind, open_writer

__all__ = [
    "DEFAULT_FPS",
    "KINDS",
    "QUALITIES",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "infer_kind",
    "open_video",
    "open_writer",
    "to_rgb24",
]

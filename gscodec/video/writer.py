"""Writing RGB frames as video, atomically: nothing partial is ever left at the destination.

Kinds, inferred from the destination when not given:

- ``"-"``: y4m on standard output, streamed frame by frame (``gsdec x.gsv -o - | ffplay -``).
  The one kind that cannot be atomic.
- ``*.y4m`` (kind ``"y4m"``): 8-bit 4:4:4, BT.601 limited range (see :mod:`gscodec.video.y4m`);
  every RGB colour reads back within 2 per channel.
- ``*.mp4``, ``*.mkv`` (kinds ``"mp4"``, ``"mkv"``): H.264 through x264. Quality
  ``"lossless"`` codes RGB itself with libx264rgb at qp 0, preset ultrafast (High 4:4:4
  Predictive profile): frames read back bit-exact; FFmpeg-based players (ffplay, mpv, VLC)
  play it, browsers and QuickTime do not. Quality ``"high"`` is libx264 at crf 12 (preset
  medium) in yuv420p, BT.601 limited range (tagged so), or yuv444p when a side is odd (4:2:0
  H.264 cannot code odd sizes).
- anything else, or an existing folder (kind ``"png"``): a folder of ``frame_0001.png``,
  ``frame_0002.png``, ... (numbered from 1, at least 4 digits).

Some names that look like other video formats (``.avi``, ``.mov``, ``.gsv``, ...) are refused
rather than turned into a folder of that name.

Files are written under a hidden temporary name in the destination's folder and renamed into
place by :meth:`VideoWriter.commit`; :meth:`VideoWriter.abort` (or an exception inside the
``with`` block) removes the temporary, leaving any earlier file at the destination untouched.
A PNG folder is written as a hidden sibling folder and renamed into place; an existing folder
is replaced only if it is empty or holds nothing but frames named as gscodec names them.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import sys
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

import av
import cv2
import numpy as np

from gscodec.errors import InputError, RuntimeFailure
from gscodec.video import pngdir, y4m

#: Writer kinds, and the container format PyAV writes for each H.264 kind.
KINDS: tuple[str, ...] = ("y4m", "mp4", "mkv", "png")
QUALITIES: tuple[str, ...] = ("lossless", "high")
_AV_FORMAT = {"mp4": "mp4", "mkv": "matroska"}
_SUFFIX_KIND = {".y4m": "y4m", ".mp4": "mp4", ".mkv": "mkv"}
# Suffixes of formats we do not write: refused instead of becoming a folder of that name.
_REFUSED_SUFFIXES = frozenset(
    ".avi .mov .webm .m4v .ts .mpg .mpeg .flv .wmv .ogv .gif .264 .h264 .265 .hevc .ivf .obu "
    ".yuv .png .jpg .jpeg .gsv".split()
)

# FFmpeg's AVColorSpace and AVColorRange values for BT.601 (SMPTE 170M) limited range.
_AVCOL_SPC_SMPTE170M = 6
_AVCOL_RANGE_MPEG = 1
_CRF_HIGH = "12"
# qp 0 is lossless; ultrafast encodes ~10x faster than the default preset for ~40 % more bytes
# (1280x720: 24 against 2.2 frames/s, 1070 against 760 KiB/frame), and decodes 3x faster.
_LOSSLESS_OPTIONS = {"qp": "0", "preset": "ultrafast"}


def infer_kind(dest: str | os.PathLike[str]) -> str:
    """The writer kind for ``dest``: y4m for ``"-"`` and ``*.y4m``, mp4, mkv, else png."""
    if isinstance(dest, str) and dest == "-":
        return "y4m"
    path = Path(dest)
    if path.is_dir():
        return "png"
    suffix = path.suffix.lower()
    if suffix in _SUFFIX_KIND:
        return _SUFFIX_KIND[suffix]
    if suffix in _REFUSED_SUFFIXES:
        raise InputError(
            f"cannot write {suffix} files; name the output *.mp4, *.mkv, *.y4m, '-' (y4m on "
            "standard output) or a folder for PNG frames"
        )
    return "png"


class _Sink(Protocol):
    """Where frames go: one encoder and its output.

    A frame goes through ``prepare`` (any work that depends on the frame alone: it may run on any
    thread, several frames at once, in any order), then ``write`` (in frame order).
    """

    def prepare(self, rgb: np.ndarray) -> object:
        """The frame made ready for ``write`` (an encoding of it, or the frame itself)."""
        ...

    def write(self, prepared: object) -> None:
        """Write one prepared frame."""
        ...

    def finish(self) -> None:
        """Flush everything; the output is complete afterwards."""
        ...

    def discard(self) -> None:
        """Stop, ignoring errors; the output is thrown away."""
        ...


class _Y4mSink:
    """y4m onto a binary stream: the header now, then one FRAME per write."""

    def __init__(self, stream: BinaryIO, width: int, height: int, fps: Fraction, owned: bool) -> None:
        self._stream = stream
        self._owned = owned  # close it at the end (a file), or only flush it (standard output)
        self._stream.write(y4m.header(width, height, fps))

    def prepare(self, rgb: np.ndarray) -> bytes:
        return y4m.rgb_to_ycbcr444(rgb)

    def write(self, planes: bytes) -> None:
        self._stream.write(y4m.FRAME_MARKER)
        self._stream.write(planes)
        if not self._owned:
            self._stream.flush()  # a player downstream sees every frame as soon as it exists

    def finish(self) -> None:
        if self._owned:
            self._stream.close()
        else:
            self._stream.flush()

    def discard(self) -> None:
        try:
            self.finish()
        except OSError:
            pass


class _H264Sink:
    """H.264 in mp4 or mkv through PyAV; see the module docstring for the two qualities."""

    def __init__(
        self, path: Path, container_format: str, width: int, height: int, fps: Fraction, quality: str
    ) -> None:
        self._container = av.open(str(path), mode="w", format=container_format)
        rate = container_rate(fps)
        try:
            if quality == "lossless":
                stream = self._container.add_stream("libx264rgb", rate=rate, options=_LOSSLESS_OPTIONS)
                self._pix_fmt = "rgb24"
            else:
                stream = self._container.add_stream("libx264", rate=rate, options={"crf": _CRF_HIGH})
                self._pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
                stream.codec_context.colorspace = _AVCOL_SPC_SMPTE170M
                stream.codec_context.color_range = _AVCOL_RANGE_MPEG
            stream.width = width
            stream.height = height
            stream.pix_fmt = self._pix_fmt
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._count = 0

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return rgb  # the encoder keeps state from frame to frame: all of it happens in order

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if self._pix_fmt != "rgb24":
            frame = frame.reformat(format=self._pix_fmt, dst_colorspace="itu601", dst_color_range="MPEG")
        frame.pts = self._count
        self._count += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def discard(self) -> None:
        try:
            self._container.close()
        except (av.FFmpegError, OSError):
            pass


_INT32_MAX = (1 << 31) - 1
#: The slowest rate written to mp4/mkv: the mp4 muxer fails on frames more than ~18 hours apart.
_SLOWEST = Fraction(1, 65535)


def container_rate(fps: Fraction) -> Fraction:
    """``fps`` as an mp4 or mkv header can hold it: the nearest ratio of int32 values, at least 1/65535.

    A .gsv frame rate is a ratio of two u32 values; 4294967295/4294967294 is legal there but not
    in FFmpeg's AVRational (PyAV raises OverflowError), and the mp4 muxer rejects timestamps of
    rates below about 1/65535 fps. y4m output keeps the exact rate.
    """
    if fps < _SLOWEST:
        return _SLOWEST
    if fps.numerator <= _INT32_MAX and fps.denominator <= _INT32_MAX:
        return fps
    if fps >= _INT32_MAX:
        return Fraction(_INT32_MAX)
    return fps.limit_denominator(max(1, min(_INT32_MAX, int(_INT32_MAX / fps))))


class _PngSink:
    """Numbered PNG files in a folder (OpenCV's encoder: it wants BGR order)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._count = 0

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        try:
            ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        except cv2.error as exc:
            raise OSError(f"OpenCV could not encode a PNG frame: {exc}") from None
        if not ok:
            raise OSError("OpenCV could not encode a PNG frame")
        return data

    def write(self, png: np.ndarray) -> None:
        self._count += 1
        path = self._folder / pngdir.frame_name(self._count)
        with open(path, "xb") as f:
            f.write(png.data)

    def finish(self) -> None:
        """Every file is complete once written."""

    def discard(self) -> None:
        """The folder itself is removed by the writer."""


#: Frames a writer holds between :meth:`VideoWriter.write` and its output (each a copy).
QUEUE_FRAMES = 8
#: Threads that prepare frames (Y'CbCr conversion, PNG compression) several at once; OpenCV and
#: numpy release the interpreter's lock while they work.
PREPARE_THREADS = max(1, min(4, os.cpu_count() or 1))


class _Output:
    """The thread that feeds a sink its frames, in order, and what it has done so far; the frames'
    ``prepare`` runs ahead of it on PREPARE_THREADS threads.

    It holds no reference to its writer, so a writer dropped without a commit is still collected
    (and its temporary removed, this thread stopped, by the writer's finalizer).
    """

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.emitted = 0  # frames written to the sink
        self.error: BaseException | None = None
        self._dropping = False
        self._queue: queue.Queue[Future[object] | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def put(self, frame: np.ndarray) -> None:
        if self._thread is None:
            self._pool = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="gscodec-prepare")
            self._thread = threading.Thread(target=self._run, name="gscodec-writer", daemon=True)
            self._thread.start()
        assert self._pool is not None
        self._queue.put(self._pool.submit(self.sink.prepare, frame))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.error is not None or self._dropping:
                item.cancel()
                continue  # failed or aborted: the rest is dropped
            try:
                self.sink.write(item.result())
                self.emitted += 1
            except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread by the writer
                self.error = exc

    def _end_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def drain(self) -> None:
        """Wait until every queued frame is written (or dropped after an error)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._end_pool()

    def stop(self) -> None:
        """Drop what is queued and end the thread; gives up waiting after a while (a write blocked on
        a pipe nobody reads: the sink's discard then ends that write)."""
        self._dropping = True
        if self._thread is None:
            return
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item.cancel()
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            pass
        self._thread.join(timeout=5.0)
        self._thread = None
        self._end_pool()


def _dispose(output: _Output, temp: Path | None) -> None:
    """A writer dropped uncommitted (or aborted): stop its thread, remove its temporary."""
    output.stop()
    if temp is not None:
        _remove(temp)


def _remove(path: Path) -> None:
    """Remove a temporary file or folder if it is still there."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _hidden_sibling(final: Path, tag: str) -> Path:
    """An unused hidden name next to ``final``: ``.NAME.RANDOM.TAG``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.{tag}")


def _install_folder(temp: Path, final: Path) -> None:
    """Rename the finished folder ``temp`` to ``final``, replacing an earlier one of ours."""
    if not final.exists():
        os.rename(temp, final)
        return
    if not final.is_dir() or not pngdir.looks_like_ours(final):
        raise InputError(f"{final} appeared while writing and is not a frame folder of ours; not replaced")
    old = _hidden_sibling(final, "old")
    os.rename(final, old)
    try:
        os.rename(temp, final)
    except OSError:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


class VideoWriter:
    """Frames in, a complete video out: ``write`` each frame, then ``commit`` (or ``abort``).

    As a context manager it commits on a clean exit and aborts on an exception. Made by
    :func:`open_writer`.

    The encoding and writing (Y'CbCr conversion, PNG or H.264 compression, the file or pipe) run on
    threads of the writer's own while the caller produces the next frames: the work on a frame
    alone (Y'CbCr conversion, PNG compression) on PREPARE_THREADS threads, several frames at once,
    and the writing on one thread, in order. ``write`` takes a copy of the frame and returns,
    waiting only when QUEUE_FRAMES frames are already waiting. Each frame goes out as soon as the
    threads get to it (a player on standard output sees every frame as it is made). An error in
    writing is raised by the next ``write`` or by ``commit``, saying how many frames went out
    before it.
    """

    def __init__(self, dest: str, kind: str, width: int, height: int, fps: Fraction, quality: str) -> None:
        self.dest = dest
        self.kind = kind
        self.width = width
        self.height = height
        self.fps = fps
        self.quality = quality
        self.frames_written = 0
        self._done = False
        self._final: Path | None = None  # None: standard output, nothing to rename
        self._temp: Path | None = None
        try:
            self._sink = self._open_sink()
        except BaseException:
            if self._temp is not None:
                _remove(self._temp)
            raise
        self._output = _Output(self._sink)
        # Stops the thread and removes the temporary if the writer is dropped (or the program ends) uncommitted.
        self._cleanup = weakref.finalize(self, _dispose, self._output, self._temp)

    def _open_sink(self) -> _Sink:
        """Check the destination, create the temporary and open the encoder on it."""
        if self.dest == "-":
            if self.kind != "y4m":
                raise InputError(f"only y4m can be written to standard output, not {self.kind}")
            stdout = sys.stdout
            if stdout is None or stdout.isatty():
                raise InputError("standard output is a terminal; redirect it or pipe it to a player")
            return _Y4mSink(stdout.buffer, self.width, self.height, self.fps, owned=False)

        final = Path(os.path.abspath(self.dest))
        parent = final.parent
        if not parent.is_dir():
            raise InputError(f"cannot write {self.dest}: folder {parent} does not exist; create it first")
        if final == Path.cwd() or final == parent:
            raise InputError(f"cannot replace the folder {self.dest} itself; give a new folder name")
        if self.kind == "png":
            if final.exists() and not final.is_dir():
                raise InputError(f"cannot write PNG frames to {self.dest}: it exists and is not a folder")
            if final.is_dir() and not pngdir.looks_like_ours(final):
                raise InputError(
                    f"folder {self.dest} holds files that are not frame_NNNN.png frames; "
                    "choose an empty or new folder"
                )
        elif final.is_dir():
            raise InputError(f"cannot write a {self.kind} file to {self.dest}: it is a folder")

        self._final = final
        temp = _hidden_sibling(final, "tmp")
        try:
            if self.kind == "png":
                temp.mkdir()
                self._temp = temp
                return _PngSink(temp)
            handle = temp.open("xb")
            self._temp = temp
            if self.kind == "y4m":
                return _Y4mSink(handle, self.width, self.height, self.fps, owned=True)
            handle.close()
            return _H264Sink(temp, _AV_FORMAT[self.kind], self.width, self.height, self.fps, self.quality)
        except (OSError, av.FFmpegError) as exc:
            raise RuntimeFailure(f"cannot start writing {self.dest}: {_reason(exc)}") from None

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: (height, width, 3) uint8 RGB."""
        if self._done:
            raise RuntimeFailure(f"the writer of {self._name()} is finished; it takes no more frames")
        expected = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise InputError(f"a frame for {self._name()} must be uint8 {expected}, not {got}")
        self._raise_error()
        self._output.put(np.array(frame, order="C", copy=True))  # the caller may reuse its array
        self.frames_written += 1

    def _raise_error(self) -> None:
        """Raise the writing thread's error, if it had one, as this writer's error."""
        exc = self._output.error
        if exc is None:
            return
        written = self._output.emitted
        if isinstance(exc, BrokenPipeError):
            raise RuntimeFailure(
                f"the reader of {self._name()} went away after {written} frame{'s' * (written != 1)}"
            ) from None
        if isinstance(exc, (OSError, av.FFmpegError)):
            raise RuntimeFailure(f"cannot write frame {written} to {self._name()}: {_reason(exc)}") from None
        raise exc

    def commit(self) -> None:
        """Finish the output and move it into place; an error there aborts and re-raises."""
        if self._done:
            return
        try:
            if self.frames_written == 0:
                raise RuntimeFailure(f"no frames were written to {self._name()}; nothing saved")
            self._output.drain()
            self._raise_error()
            self._sink.finish()
            if self._final is not None and self._temp is not None:
                if self.kind == "png":
                    _install_folder(self._temp, self._final)
                else:
                    os.replace(self._temp, self._final)
        except BrokenPipeError:
            self.abort()
            raise RuntimeFailure(f"the reader of {self._name()} went away before the end") from None
        except (OSError, av.FFmpegError) as exc:
            self.abort()
            raise RuntimeFailure(f"cannot finish {self._name()}: {_reason(exc)}") from None
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._cleanup.detach()

    def abort(self) -> None:
        """Stop and remove everything written so far (standard output cannot be taken back)."""
        if self._done:
            return
        self._done = True
        self._output.stop()
        self._sink.discard()
        self._cleanup()  # stops the thread and removes the temporary, once

    def _name(self) -> str:
        return "standard output" if self.dest == "-" else self.dest

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _reason(exc: BaseException) -> str:
    """A one-line reason from an OS or FFmpeg error."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(reason.split()) or type(exc).__name__


def _as_fps(fps: Fraction | int | float | str) -> Fraction:
    """The frame rate as a positive fraction; a float is taken as written (29.97 -> 2997/100)."""
    try:
        value = Fraction(repr(fps)) if isinstance(fps, float) else Fraction(fps)
    except (TypeError, ValueError):
        raise InputError(f"frame rate must be a number, not {fps!r}") from None
    if value <= 0:
        raise InputError(f"frame rate must be positive, not {fps}")
    return value


def open_writer(
    dest: str | os.PathLike[str],
    width: int,
    height: int,
    fps: Fraction,
    kind: str | None = None,
    quality: str = "lossless",
) -> VideoWriter:
    """Start writing a ``width`` x ``height`` video at ``fps`` to ``dest``.

    ``kind`` is one of :data:`KINDS` or None to infer it from ``dest``; ``quality``
    (``"lossless"`` or ``"high"``) matters for mp4 and mkv only. See the module docstring.
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a whole number >= 1, not {value!r}")
    if quality not in QUALITIES:
        raise InputError(f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}")
    if kind is None:
        kind = infer_kind(dest)
    elif kind not in KINDS:
        raise InputError(f"output kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return VideoWriter(os.fspath(dest), kind, width, height, _as_fps(fps), quality)

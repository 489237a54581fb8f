"""Video I/O: every reader and writer kind, pipes, atomic writes, ranges, errors, the sample.

Clips are synthesized here and written with PyAV. Tolerances (per channel, 8-bit):
exact for PNG and libx264rgb; max 1 for 10-bit 4:4:4; max 2 for 8-bit 4:4:4 Y'CbCr (BT.601
limited range, our y4m included: the bound holds for all 2^24 colours); for 4:2:0 on the
smooth test content, mean 4 and max 24 (chroma is subsampled, and FFmpeg's default
conversion repeats chroma samples for even sizes instead of interpolating them).
"""

from __future__ import annotations

import gc
import hashlib
import io
import logging
import os
import subprocess
import sys
import weakref
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gscodec.errors import InputError, RuntimeFailure
from gscodec.video import VideoInfo, infer_kind, open_video, open_writer, pngdir, to_rgb24, y4m
from gscodec.video.reader import _conversion_notes

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "carphone_qcif_32f.mp4"
NTSC = Fraction(30000, 1001)
MAX_444 = 2  # 8-bit 4:4:4 Y'CbCr round trip, any colour
MEAN_420, MAX_420 = 4.0, 24  # 4:2:0 round trip on smooth content


def smooth_frames(n: int, height: int, width: int) -> list[np.ndarray]:
    """Smooth moving content (sinusoids and a soft red blob) that 4:2:0 represents well."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(n):
        rgb = np.stack(
            [
                128 + 100 * np.sin(x / 9 + t / 3),
                128 + 100 * np.cos(y / 7 - t / 4),
                128 + 90 * np.sin((x + y) / 11 + t / 5),
            ],
            axis=-1,
        )
        blob = np.exp(-((x - width / 4 - 3 * t) ** 2 + (y - height / 2) ** 2) / (2 * (width / 10) ** 2))
        rgb = rgb * (1 - blob[..., None]) + blob[..., None] * np.array([240.0, 40.0, 40.0])
        frames.append(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    return frames


def noise_frames(n: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Uniform random RGB, the worst case for everything but lossless paths."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


def write_clip(
    path: Path, fmt: str, codec: str, pix_fmt: str, frames: list[np.ndarray],
    fps: Fraction = NTSC, options: dict[str, str] | None = None, array_format: str = "rgb24",
) -> None:
    """Write ``frames`` with PyAV; the encoder converts from ``array_format`` to ``pix_fmt``."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format=array_format)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def read_all(source: str | Path, **kwargs: int) -> tuple[list[np.ndarray], VideoInfo, list[str]]:
    """All frames, the info and the notes of ``source``."""
    with open_video(source, **kwargs) as reader:
        frames = list(reader)
    return frames, reader.info, reader.notes


def errors(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[int, float]:
    """Max and mean absolute difference between two equally long frame lists."""
    assert len(a) == len(b)
    diff = np.abs(np.stack(a).astype(np.int16) - np.stack(b).astype(np.int16))
    return int(diff.max()), float(diff.mean())


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """RGB PSNR (peak 255) over all frames together."""
    mse = np.mean((np.stack(a).astype(np.float64) - np.stack(b)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def check_frames(frames: list[np.ndarray], height: int, width: int) -> None:
    """Every frame is a C-contiguous, writable (H, W, 3) uint8 array."""
    for frame in frames:
        assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
        assert frame.flags.c_contiguous and frame.flags.writeable


# ---------------------------------------------------------------------------------------
# Reading files FFmpeg opens

READ_CASES = {
    # name: (suffix, muxer, codec, pix_fmt, options, size (w, h), frame count known, fps read, tolerance)
    "mp4-x264-444": (".mp4", "mp4", "libx264", "yuv444p", {"qp": "0"}, (175, 143), True, NTSC, "444"),
    "mkv-x264rgb": (".mkv", "matroska", "libx264rgb", "rgb24", {"qp": "0"}, (175, 143), False, NTSC, "exact"),
    "avi-ffv1-420": (".avi", "avi", "ffv1", "yuv420p", {}, (176, 144), True, NTSC, "420"),
    "h264-annexb-420": (".264", "h264", "libx264", "yuv420p", {"qp": "0"}, (176, 144), False, 25, "420"),
    "y4m-420-odd": (".y4m", "yuv4mpegpipe", "rawvideo", "yuv420p", {}, (175, 143), False, NTSC, "420"),
    "mkv-ffv1-10b-444": (".mkv", "matroska", "ffv1", "yuv444p10le", {}, (64, 48), False, NTSC, "444/10"),
    "mkv-x264-10b-420": (".mkv", "matroska", "libx264", "yuv420p10le", {"qp": "0"}, (64, 48), False, NTSC, "420"),
}


@pytest.mark.parametrize("case", list(READ_CASES))
def test_read_containers(tmp_path: Path, case: str) -> None:
    suffix, muxer, codec, pix_fmt, options, (width, height), counted, fps, tolerance = READ_CASES[case]
    source = smooth_frames(6, height, width)
    path = tmp_path / f"clip{suffix}"
    write_clip(path, muxer, codec, pix_fmt, source, options=options)
    frames, info, notes = read_all(path)
    check_frames(frames, height, width)
    decoded_fmt = "gbrp" if codec == "libx264rgb" else pix_fmt  # x264 codes RGB as planar G, B, R
    assert (info.width, info.height, info.pix_fmt) == (width, height, decoded_fmt)
    assert info.fps == fps  # a raw .264 carries no rate: FFmpeg assumes 25
    assert info.frame_count == (6 if counted else None)
    assert len(frames) == 6
    worst, mean = errors(frames, source)
    if tolerance == "exact":
        assert worst == 0
    elif tolerance == "444/10":
        assert worst <= 1
    elif tolerance == "444":
        assert worst <= MAX_444
    else:
        assert mean <= MEAN_420 and worst <= MAX_420, (mean, worst)
    assert any("reduced to 8 bits" in n for n in notes) == ("10" in pix_fmt)


def test_read_gray_clip_is_replicated(tmp_path: Path) -> None:
    gray = [np.ascontiguousarray(f[..., 1]) for f in smooth_frames(4, 36, 50)]
    path = tmp_path / "gray.y4m"
    write_clip(path, "yuv4mpegpipe", "rawvideo", "gray", gray, array_format="gray")
    frames, info, notes = read_all(path)
    assert info.pix_fmt == "gray" and any("replicated" in n for n in notes)
    for frame, g in zip(frames, gray, strict=True):
        assert np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 0], frame[..., 2])
        assert np.abs(frame[..., 0].astype(int) - g).max() <= 1


def test_ten_bit_source_logs_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ten.mkv"
    write_clip(path, "matroska", "ffv1", "yuv420p10le", smooth_frames(2, 16, 16))
    with caplog.at_level(logging.INFO, logger="gscodec.video"):
        open_video(path).close()
    assert any(r.levelno == logging.WARNING and "reduced to 8 bits" in r.getMessage() for r in caplog.records)


def test_conversion_notes_by_pixel_format() -> None:
    assert _conversion_notes("yuv420p") == [] and _conversion_notes("rgb24") == []
    assert [lossy for _, lossy in _conversion_notes("yuv420p10le")] == [True]
    assert [lossy for _, lossy in _conversion_notes("gray")] == [False]
    notes = [note for note, _ in _conversion_notes("rgba64be")]
    assert any("16-bit" in n for n in notes) and any("alpha" in n for n in notes)


# ---------------------------------------------------------------------------------------
# PNG folders


def write_pngs(folder: Path, frames: list[np.ndarray], names: list[str] | None = None) -> None:
    """Write RGB (or gray / RGBA / 16-bit) arrays as PNGs with OpenCV (which wants BGR)."""
    folder.mkdir(exist_ok=True)
    for index, frame in enumerate(frames):
        name = names[index] if names else pngdir.frame_name(index + 1)
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_RGBA2BGRA if frame.shape[2] == 4 else cv2.COLOR_RGB2BGR)
        assert cv2.imwrite(str(folder / name), frame)


def test_png_folder_natural_order_and_strays_ignored(tmp_path: Path) -> None:
    source = noise_frames(11, 13, 17)
    names = [f"shot{i}.png" for i in range(11)]  # shot10 must come after shot9
    write_pngs(tmp_path / "f", source, names)
    (tmp_path / "f" / "notes.txt").write_text("not a frame")
    (tmp_path / "f" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "f" / "sub.png").mkdir()
    frames, info, notes = read_all(tmp_path / "f")
    check_frames(frames, 13, 17)
    assert errors(frames, source) == (0, 0.0)
    assert (info.frame_count, info.fps, info.pix_fmt) == (11, Fraction(25), "rgb24")
    assert any("no frame rate" in n for n in notes)


def test_png_alpha_dropped_gray_replicated_16bit_reduced(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    gray = rng.integers(0, 256, (9, 7), dtype=np.uint8)
    deep = rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    write_pngs(tmp_path / "f", [rgba, gray, deep])
    frames, info, notes = read_all(tmp_path / "f")
    assert info.pix_fmt == "rgba"
    assert np.array_equal(frames[0], rgba[..., :3])
    assert np.array_equal(frames[1], np.repeat(gray[..., None], 3, axis=2))
    assert np.abs(frames[2].astype(int) - (deep >> 8)).max() <= 1
    joined = " ".join(notes)
    assert "alpha channel is dropped" in joined and "replicated" in joined and "16-bit" in joined


def test_png_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="holds no .png frames"):
        open_video(tmp_path / "empty")
    write_pngs(tmp_path / "mixed", noise_frames(2, 8, 8) + noise_frames(1, 8, 9))
    with pytest.raises(InputError, match="differ in size.*frame_0003.png is 9x8"):
        open_video(tmp_path / "mixed")
    write_pngs(tmp_path / "fake", noise_frames(1, 8, 8))
    (tmp_path / "fake" / "frame_0002.png").write_bytes(b"GIF89a not really a png at all, no")
    with pytest.raises(InputError, match="frame_0002.png is not a PNG"):
        open_video(tmp_path / "fake")


def test_png_frame_names_widen() -> None:
    assert pngdir.frame_name(1) == "frame_0001.png"
    assert pngdir.frame_name(12345) == "frame_12345.png"
    assert pngdir.OUR_FRAME_NAME.fullmatch("frame_12345.png")


# ---------------------------------------------------------------------------------------
# Writers: every kind round trips through the reader


def test_y4m_matrix_known_values() -> None:
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    planes = np.frombuffer(y4m.rgb_to_ycbcr444(colours), np.uint8).reshape(3, 5)
    # BT.601 limited range: black, white, then the three primaries at full intensity.
    assert planes[:, 0].tolist() == [16, 128, 128]
    assert planes[:, 1].tolist() == [235, 128, 128]
    assert planes[:, 2].tolist() == [81, 90, 240]
    assert planes[:, 3].tolist() == [145, 54, 34]
    assert planes[:, 4].tolist() == [41, 240, 110]


def test_write_y4m_file_round_trip(tmp_path: Path) -> None:
    corners = np.array([[[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)]], np.uint8)
    source = noise_frames(3, 143, 175)
    source[0][0, :8] = corners[0]
    dest = tmp_path / "out.y4m"
    with open_writer(dest, 175, 143, NTSC) as writer:
        for frame in source:
            writer.write(frame)
    assert dest.read_bytes().startswith(b"YUV4MPEG2 W175 H143 F30000:1001 Ip A1:1 C444")
    frames, info, _ = read_all(dest)
    assert (info.width, info.height, info.fps, info.pix_fmt) == (175, 143, NTSC, "yuv444p")
    worst, mean = errors(frames, source)
    assert worst <= MAX_444 and mean < 0.5
    assert os.listdir(tmp_path) == ["out.y4m"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_write_h264_lossless_is_exact(tmp_path: Path, suffix: str) -> None:
    source = noise_frames(4, 143, 175)
    dest = tmp_path / f"out{suffix}"
    with open_writer(dest, 175, 143, NTSC, quality="lossless") as writer:
        for frame in source:
            writer.write(frame)
    frames, info, _ = read_all(dest)
    assert info.pix_fmt == "gbrp" and info.fps == NTSC
    assert errors(frames, source) == (0, 0.0)


@pytest.mark.parametrize(("width", "height", "pix_fmt"), [(176, 144, "yuv420p"), (175, 143, "yuv444p")])
def test_write_h264_high(tmp_path: Path, width: int, height: int, pix_fmt: str) -> None:
    source = smooth_frames(5, height, width)
    dest = tmp_path / "out.mp4"
    with open_writer(dest, width, height, Fraction(25), quality="high") as writer:
        for frame in source:
            writer.write(frame)
    frames, info, _ = read_all(dest)
    assert (info.pix_fmt, info.frame_count, info.fps) == (pix_fmt, 5, Fraction(25))
    # The encoder's own loss: against the source taken through the same Y'CbCr sampling.
    sampled = [
        to_rgb24(
            av.VideoFrame.from_ndarray(f, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace="itu601", dst_color_range="MPEG"
            )
        )
        for f in source
    ]
    # About 49 dB in Y'CbCr; the conversion to RGB amplifies chroma errors.
    assert psnr(frames, sampled) > 39 and psnr(frames, source) > 33
    with av.open(str(dest)) as container:  # tagged BT.601 limited range for other players
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range) == (6, 1)


def test_write_png_folder_exact_and_replaces_own_folder(tmp_path: Path) -> None:
    dest = tmp_path / "frames"
    source = noise_frames(3, 143, 175)
    with open_writer(dest, 175, 143, NTSC) as writer:
        for frame in source:
            writer.write(frame)
            assert not dest.exists()  # appears only when complete
    assert sorted(os.listdir(dest)) == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    frames, _, _ = read_all(dest)
    assert errors(frames, source) == (0, 0.0)
    with open_writer(str(dest) + "/", 175, 143, NTSC) as writer:  # an existing folder of ours
        writer.write(source[2])
    assert os.listdir(dest) == ["frame_0001.png"]
    assert sorted(os.listdir(tmp_path)) == ["frames"]


def test_png_writer_refuses_a_foreign_folder(tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="not frame_NNNN.png"):
        open_writer(dest, 8, 8, NTSC)
    assert os.listdir(dest) == ["thesis.tex"]
    with pytest.raises(InputError, match="not a folder"):
        open_writer(dest / "thesis.tex", 8, 8, NTSC, kind="png")


def test_kind_inference(tmp_path: Path) -> None:
    assert infer_kind("-") == "y4m"
    names = ("a.y4m", "a.MP4", "b.mkv", "frames", "out/")
    assert [infer_kind(n) for n in names] == ["y4m", "mp4", "mkv", "png", "png"]
    (tmp_path / "x.mp4").mkdir()
    assert infer_kind(tmp_path / "x.mp4") == "png"  # an existing folder wins over the name
    for name in ("a.avi", "a.gsv", "b.mov"):
        with pytest.raises(InputError, match="cannot write"):
            infer_kind(name)


def test_writer_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="width"):
        open_writer(tmp_path / "a.y4m", 0, 8, NTSC)
    with pytest.raises(InputError, match="quality"):
        open_writer(tmp_path / "a.mp4", 8, 8, NTSC, quality="best")
    with pytest.raises(InputError, match="kind"):
        open_writer(tmp_path / "a.mp4", 8, 8, NTSC, kind="webm")
    with pytest.raises(InputError, match="frame rate"):
        open_writer(tmp_path / "a.y4m", 8, 8, Fraction(0))
    with pytest.raises(InputError, match="only y4m"):
        open_writer("-", 8, 8, NTSC, kind="mp4")
    with pytest.raises(InputError, match="does not exist"):
        open_writer(tmp_path / "no" / "a.y4m", 8, 8, NTSC)
    with open_writer(tmp_path / "a.y4m", 8, 6, NTSC) as writer:
        writer.write(np.zeros((6, 8, 3), np.uint8))
        with pytest.raises(InputError, match=r"uint8 \(6, 8, 3\)"):
            writer.write(np.zeros((8, 6, 3), np.uint8))
        with pytest.raises(InputError, match="uint8"):
            writer.write(np.zeros((6, 8, 3), np.float32))
    assert os.listdir(tmp_path) == ["a.y4m"]


# ---------------------------------------------------------------------------------------
# Atomicity


class Boom(Exception):
    """An error raised in the middle of writing."""


@pytest.mark.parametrize("name", ["frames", "out.y4m", "out.mp4", "out.mkv"])
def test_exception_leaves_nothing(tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    with pytest.raises(Boom), open_writer(dest, 16, 12, NTSC) as writer:
        writer.write(np.zeros((12, 16, 3), np.uint8))
        assert len(os.listdir(tmp_path)) == 1 and not dest.exists()  # only the temporary
        raise Boom
    assert os.listdir(tmp_path) == []


def test_abort_keeps_the_previous_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous result")
    with pytest.raises(Boom), open_writer(dest, 16, 12, NTSC) as writer:
        writer.write(np.zeros((12, 16, 3), np.uint8))
        raise Boom
    assert dest.read_bytes() == b"previous result" and os.listdir(tmp_path) == ["out.mp4"]
    with open_writer(dest, 16, 12, NTSC) as writer:
        writer.write(np.zeros((12, 16, 3), np.uint8))
    assert dest.read_bytes() != b"previous result" and os.listdir(tmp_path) == ["out.mp4"]


def test_no_frames_and_dropped_writers_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="no frames"), open_writer(tmp_path / "a.y4m", 8, 8, NTSC):
        pass
    writer = open_writer(tmp_path / "frames", 8, 8, NTSC)
    writer.write(np.zeros((8, 8, 3), np.uint8))
    del writer
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_writer_copies_each_frame_so_the_caller_may_reuse_its_array(tmp_path: Path) -> None:
    dest = tmp_path / "out.y4m"
    buf = np.zeros((8, 8, 3), np.uint8)
    with open_writer(dest, 8, 8, NTSC) as writer:
        for k in range(12):  # more than the queue holds
            buf[:] = 20 * k
            writer.write(buf)
    frames, _, _ = read_all(dest)
    got = np.array([int(f[0, 0, 0]) for f in frames])
    assert len(got) == 12 and np.abs(got - 20 * np.arange(12)).max() <= MAX_444  # each frame as it was written


@pytest.mark.parametrize("fail_at", [0, 2, 10])
def test_an_error_on_the_writing_thread_is_raised_with_the_frames_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    import gscodec.video.writer as w

    real = w._Y4mSink.write
    seen = {"n": 0}

    def failing(self, rgb):  # type: ignore[no-untyped-def]
        if seen["n"] == fail_at:
            raise OSError(28, "No space left on device")
        seen["n"] += 1
        real(self, rgb)

    monkeypatch.setattr(w._Y4mSink, "write", failing)
    dest = tmp_path / "out.y4m"
    with pytest.raises(RuntimeFailure, match=f"cannot write frame {fail_at} to .*No space left on device"):
        with open_writer(dest, 8, 8, NTSC) as writer:
            for _ in range(40):
                writer.write(np.zeros((8, 8, 3), np.uint8))
    assert os.listdir(tmp_path) == []  # aborted: nothing left


def test_a_reader_that_goes_away_is_reported_after_the_frames_it_took(monkeypatch: pytest.MonkeyPatch) -> None:
    import gscodec.video.writer as w

    real = w._Y4mSink.write
    count = {"n": 0}

    def closing(self, rgb):  # type: ignore[no-untyped-def]
        if count["n"] == 3:
            raise BrokenPipeError(32, "Broken pipe")
        count["n"] += 1
        real(self, rgb)

    monkeypatch.setattr(w._Y4mSink, "write", closing)
    sink = io.BytesIO()
    writer = w.VideoWriter.__new__(w.VideoWriter)  # a writer onto an in-memory "pipe"
    writer.__dict__.update(dest="-", kind="y4m", width=8, height=8, fps=NTSC, quality="lossless",
                           frames_written=0, _done=False, _final=None, _temp=None)
    writer._sink = w._Y4mSink(sink, 8, 8, NTSC, owned=False)
    writer._output = w._Output(writer._sink)
    writer._cleanup = weakref.finalize(writer, w._dispose, writer._output, None)
    with pytest.raises(RuntimeFailure, match="the reader of standard output went away after 3 frames"):
        for _ in range(40):
            writer.write(np.zeros((8, 8, 3), np.uint8))
        writer.commit()


# ---------------------------------------------------------------------------------------
# Pipes: y4m on standard input and standard output


def test_read_y4m_from_a_pipe(tmp_path: Path) -> None:
    source = noise_frames(5, 143, 175)
    path = tmp_path / "in.y4m"
    with open_writer(path, 175, 143, NTSC) as writer:
        for frame in source:
            writer.write(frame)
    expected, _, _ = read_all(path)
    script = (
        "import hashlib, sys; from gscodec.video import open_video\n"
        "with open_video('-', start_frame=1) as r:\n"
        "    h = hashlib.sha256(); n = 0\n"
        "    for f in r: h.update(f.tobytes()); n += 1\n"
        "print(r.info.width, r.info.height, r.info.fps, r.info.frame_count, n, h.hexdigest())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=path.read_bytes(), capture_output=True, check=True, timeout=120
    )
    digest = hashlib.sha256(b"".join(f.tobytes() for f in expected[1:])).hexdigest()
    assert result.stdout.decode().split() == ["175", "143", "30000/1001", "None", "4", digest]


def test_standard_input_that_is_not_y4m(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"RIFF....WAVEfmt not a y4m stream")))
    with pytest.raises(InputError, match="cannot open standard input.*y4m"):
        open_video("-")


def test_write_y4m_to_standard_output(tmp_path: Path) -> None:
    script = (
        "import numpy as np; from fractions import Fraction; from gscodec.video import open_writer\n"
        "rng = np.random.default_rng(0)\n"
        "with open_writer('-', 175, 143, Fraction(30000, 1001)) as w:\n"
        "    for _ in range(3): w.write(rng.integers(0, 256, (143, 175, 3), dtype=np.uint8))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120)
    (tmp_path / "piped.y4m").write_bytes(result.stdout)
    frames, info, _ = read_all(tmp_path / "piped.y4m")
    assert (info.width, info.height, info.fps, len(frames)) == (175, 143, NTSC, 3)
    source = noise_frames(3, 143, 175)
    assert errors(frames, source)[0] <= MAX_444


# ---------------------------------------------------------------------------------------
# Ranges, streaming, reader errors


def test_range_selection(tmp_path: Path) -> None:
    source = noise_frames(10, 12, 16)
    path = tmp_path / "clip.mp4"
    write_clip(path, "mp4", "libx264rgb", "rgb24", source, options={"qp": "0"})
    write_pngs(tmp_path / "f", source)
    for where in (path, tmp_path / "f"):
        frames, info, _ = read_all(where, start_frame=3, frames=4)
        assert info.frame_count == 4 and errors(frames, source[3:7]) == (0, 0.0)
        frames, info, _ = read_all(where, start_frame=7, frames=100)
        assert info.frame_count == 3 and errors(frames, source[7:]) == (0, 0.0)
        frames, info, _ = read_all(where, start_frame=9)
        assert info.frame_count == 1 and len(frames) == 1
        with pytest.raises(InputError, match=r"start frame 10 is beyond the end .*\(10 frames\)"):
            open_video(where, start_frame=10)
    with pytest.raises(InputError, match="start frame"):
        open_video(path, start_frame=-1)
    with pytest.raises(InputError, match="frame count"):
        open_video(path, frames=0)


def _live_frame_objects() -> int:
    """Decoded PyAV frames and planes alive in this process."""
    return sum(isinstance(o, (av.VideoFrame, av.video.plane.VideoPlane)) for o in gc.get_objects())


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("kind", ["y4m", "png"])
def test_frames_are_not_accumulated(tmp_path: Path, kind: str, keep: bool) -> None:
    """Streaming: near the end of a clip only a handful of delivered arrays and decoded
    frames are alive, unless the caller keeps them (the control: the count sees them)."""
    count = 60
    dest = tmp_path / ("clip.y4m" if kind == "y4m" else "frames")
    with open_writer(dest, 24, 16, Fraction(25)) as writer:
        for frame in noise_frames(count, 16, 24):
            writer.write(frame)
    kept, delivered = [], []
    gc.collect()
    before = _live_frame_objects()
    with open_video(dest) as reader:
        for index, frame in enumerate(reader):
            delivered.append(weakref.ref(frame))
            if keep:
                kept.append(frame)
            del frame
            if index == count - 10:
                gc.collect()
                alive = sum(ref() is not None for ref in delivered) + _live_frame_objects() - before
    if keep:
        assert alive >= count - 10
    else:
        assert alive < 10


def test_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_video(tmp_path / "missing.mp4")
    (tmp_path / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputError, match="cannot open .*garbage.mp4"):
        open_video(tmp_path / "garbage.mp4")
    (tmp_path / "notes.txt").write_text("FFmpeg would render this text as video\n" * 50)
    with pytest.raises(InputError, match="notes.txt is a text file, not a video"):
        open_video(tmp_path / "notes.txt")
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = (np.sin(np.arange(800) / 5) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(InputError, match="has no video stream"):
        open_video(wav)
    path = tmp_path / "two.y4m"
    write_clip(path, "yuv4mpegpipe", "rawvideo", "yuv420p", smooth_frames(2, 8, 8))
    with pytest.raises(InputError, match=r"beyond the end .*\(2 frames\)"):
        open_video(path, start_frame=5)
    reader = open_video(path)
    assert len(list(reader)) == 2
    with pytest.raises(RuntimeFailure, match="read once"):
        iter(reader)


def test_shipped_sample() -> None:
    frames, info, _ = read_all(SAMPLE)
    assert len(frames) == 32 and info.frame_count == 32
    assert (info.width, info.height, info.fps, info.pix_fmt) == (176, 144, NTSC, "yuv420p")
    check_frames(frames, 144, 176)
    assert 20 < float(np.stack(frames).mean()) < 235  # real picture content, not a blank clip
    assert SAMPLE.stat().st_size < 300_000

"""Classical anchors through PyAV: libx264, libx265 and libsvtav1 on the benchmark's source frames.

Each point encodes the clip's 4:2:0 source planes (see :mod:`gscodec.bench.source`) into a raw
elementary-stream file (H.264 / HEVC Annex B, AV1 low-overhead OBU stream: no container, and
every byte a decoder needs, parameter sets included), decodes that file back and converts the
frames to RGB with the converter the reference went through. The rate is the size of that file.

Encoders write a free-text banner (x264's and x265's "user data unregistered" SEI with their
version and full option string, 0.7 to 2.3 kB) that no decoder needs; on small clips it can be a
quarter of the file. It is left out so the anchors are not handicapped: x265 through its own
option ``info=0``, x264 (which has no such option) by dropping that SEI NAL unit from the
written file before it is measured and decoded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from gscodec.bench.points import PointSpec, RunOutput
from gscodec.bench.source import SourceClip
from gscodec.errors import RuntimeFailure


@dataclass(frozen=True)
class ClassicalCodec:
    """How the benchmark drives one libavcodec encoder."""

    name: str  # libavcodec encoder name
    muxer: str  # raw elementary-stream muxer (and demuxer)
    extension: str
    decoders: tuple[str, ...]  # software decoders to try, in order
    param: str  # the RD knob
    default_values: tuple[str, ...]
    default_preset: str
    fixed_options: tuple[tuple[str, str], ...] = ()
    annexb: str = ""  # "h264" or "hevc" when the stream is Annex B (banner SEI removal applies)


CLASSICAL_CODECS: dict[str, ClassicalCodec] = {
    "libx264": ClassicalCodec(
        name="libx264",
        muxer="h264",
        extension="264",
        decoders=("h264",),
        param="crf",
        default_values=("23", "28", "33", "38", "43"),
        default_preset="medium",
        annexb="h264",
    ),
    "libx265": ClassicalCodec(
        name="libx265",
        muxer="hevc",
        extension="265",
        decoders=("hevc",),
        param="crf",
        default_values=("23", "28", "33", "38", "43"),
        default_preset="medium",
        fixed_options=(("x265-params", "log-level=error:info=0"),),
        annexb="hevc",
    ),
    "libsvtav1": ClassicalCodec(
        name="libsvtav1",
        muxer="obu",
        extension="obu",
        decoders=("libdav1d", "libaom-av1"),
        param="crf",
        default_values=("30", "38", "46", "54", "62"),
        default_preset="8",
    ),
}
"""The CRF lists and presets match the research anchors (research/measurements/anchors-32f.csv)."""


def _find_decoder(codec: ClassicalCodec) -> str | None:
    for name in codec.decoders:
        try:
            av.codec.Codec(name, "r")
        except (av.codec.codec.UnknownCodecError, ValueError):
            continue
        return name
    return None


def unavailable_reason(name: str) -> str | None:
    """None when this PyAV build can encode, write and decode ``name``; else why not, in words."""
    codec = CLASSICAL_CODECS.get(name)
    if codec is None:
        return f"unknown codec (known: {', '.join(CLASSICAL_CODECS)})"
    try:
        av.codec.Codec(codec.name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return f"this PyAV/FFmpeg build has no {codec.name} encoder"
    if codec.muxer not in av.formats_available:
        return f"this PyAV/FFmpeg build has no {codec.muxer} muxer"
    if _find_decoder(codec) is None:
        return f"this PyAV/FFmpeg build has no decoder for it (tried {', '.join(codec.decoders)})"
    return None


def default_points(name: str, preset: str | None = None, values: Iterable[str] | None = None) -> list[PointSpec]:
    """The RD points of one classical codec: its default CRF list and preset unless given."""
    codec = CLASSICAL_CODECS[name]
    return [
        PointSpec(
            codec=name,
            param=codec.param,
            value=str(v),
            preset=preset or codec.default_preset,
            options=codec.fixed_options,
        )
        for v in (values if values is not None else codec.default_values)
    ]


# --- encoder banner removal (Annex B) -------------------------------------------------------


def _unescape(payload: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _read_coded(rbsp: bytes, pos: int) -> tuple[int, int] | None:
    """Read an SEI payloadType or payloadSize (a run of 0xFF bytes plus a last byte)."""
    value = 0
    while pos < len(rbsp) and rbsp[pos] == 0xFF:
        value += 255
        pos += 1
    if pos >= len(rbsp):
        return None
    return value + rbsp[pos], pos + 1


def _sei_payload_types(rbsp: bytes) -> list[int] | None:
    """Payload types of the SEI messages in an SEI RBSP, or None if it does not parse."""
    types = []
    pos = 0
    while pos < len(rbsp):
        if rbsp[pos] == 0x80 and not any(rbsp[pos + 1 :]):
            return types  # rbsp_trailing_bits
        kind = _read_coded(rbsp, pos)
        if kind is None:
            return None
        size = _read_coded(rbsp, kind[1])
        if size is None or size[1] + size[0] > len(rbsp):
            return None
        types.append(kind[0])
        pos = size[1] + size[0]
    return types


_USER_DATA_UNREGISTERED = 5


def _is_banner(nal: bytes, syntax: str) -> bool:
    """True for an SEI NAL unit that holds only user-data-unregistered messages."""
    if syntax == "h264":
        if len(nal) < 2 or nal[0] & 0x1F != 6:
            return False
        body = nal[1:]
    else:
        if len(nal) < 3 or (nal[0] >> 1) & 0x3F not in (39, 40):
            return False
        body = nal[2:]
    types = _sei_payload_types(_unescape(body))
    return bool(types) and all(t == _USER_DATA_UNREGISTERED for t in types)


def strip_banner_sei(data: bytes, syntax: str) -> bytes:
    """Drop user-data-unregistered SEI NAL units from an Annex B stream ("h264" or "hevc")."""
    starts = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        starts.append(pos)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    if not starts:
        return data
    # a unit runs from its start code (with a leading zero byte if 4 bytes long) to the next
    bounds = [p - 1 if p > 0 and data[p - 1] == 0 else p for p in starts]
    out = bytearray(data[: bounds[0]])
    for i, begin in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else len(data)
        nal = data[starts[i] + 3 : end]
        if not _is_banner(nal, syntax):
            out += data[begin:end]
    return bytes(out)


# --- the runner -----------------------------------------------------------------------------


def _encode(clip: SourceClip, codec: ClassicalCodec, spec: PointSpec, path: Path) -> None:
    """Encode the clip's 4:2:0 planes into a raw elementary-stream file."""
    options = dict(spec.options)
    options["preset"] = spec.preset
    options[spec.param] = spec.value
    with av.open(str(path), "w", format=codec.muxer) as out:
        stream = out.add_stream(codec.name, rate=clip.fps)
        stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, "yuv420p"
        stream.options = options
        for index, planes in enumerate(clip.yuv420):
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _decode(codec: ClassicalCodec, path: Path) -> list[av.VideoFrame]:
    """Decode a raw elementary-stream file with an explicitly chosen software decoder."""
    decoder_name = _find_decoder(codec)
    if decoder_name is None:
        raise RuntimeFailure(f"no software decoder for {codec.name} in this PyAV build")
    decoder = av.CodecContext.create(decoder_name, "r")
    frames: list[av.VideoFrame] = []
    with av.open(str(path), format=codec.muxer) as container:
        for packet in container.demux(video=0):
            if packet.size:
                frames.extend(decoder.decode(packet))
        frames.extend(decoder.decode(None))
    return frames


def _planes(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    return frame.to_ndarray()


def run_classical(clip: SourceClip, spec: PointSpec, workdir: Path) -> RunOutput:
    """Encode, write, decode one classical point; timings are wall-clock, in this process."""
    codec = CLASSICAL_CODECS[spec.codec]
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"stream.{codec.extension}"
    _ = clip.yuv420  # decode the source before the clock starts
    try:
        t0 = time.perf_counter()
        _encode(clip, codec, spec, path)
        if codec.annexb:
            raw = path.read_bytes()
            stripped = strip_banner_sei(raw, codec.annexb)
            if len(stripped) != len(raw):
                path.write_bytes(stripped)
        encode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        frames = _decode(codec, path)
        decode_s = time.perf_counter() - t0
    except av.FFmpegError as exc:
        raise RuntimeFailure(f"{spec.codec} {spec.setting} failed: {exc}") from exc

    def decoded() -> Iterable[np.ndarray]:
        for frame in frames:
            yield clip.to_rgb(_planes(frame))

    return RunOutput(bitstream=path, decoded=decoded, encode_s=encode_s, decode_s=decode_s)

"""The .gsv container (chunks, sequence header, segments, index) and the segment profiles."""

from gscodec.bitstream.chunks import MAX_CHUNK_LENGTH, SIGNATURE, Chunk, ChunkReader, encode_chunk
from gscodec.bitstream.container import (
    PROFILE_CODED,
    PROFILE_RAW,
    PROFILES,
    ColourDescription,
    GsvReader,
    GsvWriter,
    IndexEntry,
    Segment,
    SequenceHeader,
    read_index,
    read_segment_at,
)

__all__ = [
    "MAX_CHUNK_LENGTH",
    "PROFILES",
    "PROFILE_CODED",
    "PROFILE_RAW",
    "SIGNATURE",
    "Chunk",
    "ChunkReader",
    "ColourDescription",
    "GsvReader",
    "GsvWriter",
    "IndexEntry",
    "Segment",
    "SequenceHeader",
    "encode_chunk",
    "read_index",
    "read_segment_at",
]

"""The error classes every part of gscodec raises, and the exit code each one maps to.

The CLIs catch :class:`GscodecError` in one place and print ``error: <message>`` with the
class's exit code: 2 for usage or bad input (a missing file, a corrupt or truncated stream,
an unsupported version), 1 for a failure at run time.
"""

from __future__ import annotations


class GscodecError(Exception):
    """Base class. ``exit_code`` is what the command-line tools exit with."""

    exit_code = 1


class InputError(GscodecError):
    """The user's input is unusable: a missing file, an unreadable video, a bad option value."""

    exit_code = 2


class StreamError(InputError):
    """A .gsv stream is corrupt, truncated or violates format_spec.md."""


class UnsupportedError(InputError):
    """A well-formed stream or input that this decoder does not support (version, profile, codec)."""


class LimitError(StreamError):
    """A stream asks for more than the decoder's limits allow (format_spec.md, "Limits")."""


class RuntimeFailure(GscodecError):
    """Something failed at run time that is not the input's fault (a device, a subprocess)."""

    exit_code = 1


class VerifyError(GscodecError):
    """A decode does not match the expected hashes it was checked against (``gsdec --verify``)."""

    exit_code = 1

"""A folder of JSON files, one per finished point, so a re-run reuses what is already measured.

The key is a plain dict (clip content hash, frame range, codec, settings, repeats, machine and,
for gscodec points, the codec's version and source fingerprint); its canonical JSON is hashed
to name the file, and the key itself is stored beside the result and compared on load, so a
hash collision or a hand-edited file can only cause a re-run, never a wrong number.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from gscodec.bench.points import PointResult

CACHE_SCHEMA = 1


def key_digest(key: dict[str, Any]) -> str:
    """SHA-256 of the key's canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


class PointCache:
    """Load and store :class:`PointResult` objects under a folder; ``None`` folder disables it."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, key: dict[str, Any]) -> Path:
        assert self.folder is not None
        codec = str(key.get("codec", "point"))
        return self.folder / codec / f"{key_digest(key)[:32]}.json"

    def load(self, key: dict[str, Any]) -> PointResult | None:
        """The stored result for this exact key, or None (missing, unreadable or another key)."""
        if self.folder is None:
            return None
        path = self._path(key)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if data.get("schema") != CACHE_SCHEMA or data.get("key") != key:
            return None
        try:
            result = PointResult.from_dict(data["result"])
        except (KeyError, TypeError):
            return None
        result.cached = True
        return result

    def store(self, key: dict[str, Any], result: PointResult) -> None:
        """Write one result atomically (a half-written file is never left under its final name)."""
        if self.folder is None or result.status != "ok":
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"schema": CACHE_SCHEMA, "key": key, "result": {**result.to_dict(), "cached": False}}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

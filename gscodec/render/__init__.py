"""TSW rasterization: frames from Gaussians, on the GPU through gsplat or anywhere in pure PyTorch.

Both backends take the same projected splats (gscodec.model.tsw.project_frames) and follow the
rendering rules of format_spec.md §10 ("Rendering"). They return the unclamped float image, differentiable
for fitting; :func:`to_uint8` is the decoder's normative output step.

Backends: ``"cpu"`` is the pure-PyTorch rasterizer (it runs on whatever device the Gaussians are
on); ``"cuda"`` is gsplat (needs a CUDA GPU, gsplat, and the Gaussians on the GPU); ``"auto"``
picks cuda when the Gaussians are on a CUDA device and gsplat imports, else cpu.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gscodec.errors import InputError
from gscodec.model.tsw import Gaussians, MotionMode, Splats2D, project_frames

BACKENDS: tuple[str, ...] = ("auto", "cpu", "cuda")

__all__ = ["BACKENDS", "available_backends", "rasterize", "render_frame", "render_frames", "to_host", "to_uint8"]


@functools.lru_cache(maxsize=1)
def _gsplat_imports() -> bool:
    """True when a CUDA GPU is present and ``import gsplat`` works (the import does not compile anything)."""
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except Exception:  # a broken optional install must not break the cpu path
        return False
    return True


def available_backends() -> list[str]:
    """Backends usable here: always "cpu"; "cuda" too when torch sees a GPU and gsplat imports."""
    return ["cpu", "cuda"] if _gsplat_imports() else ["cpu"]


def _resolve(backend: str, device: torch.device) -> str:
    """Turn a requested backend into "cpu" or "cuda", or raise InputError saying what to do."""
    if backend == "auto":
        return "cuda" if device.type == "cuda" and _gsplat_imports() else "cpu"
    if backend == "cpu":
        return "cpu"
    if backend == "cuda":
        if not torch.cuda.is_available():
            raise InputError("the cuda backend needs a CUDA GPU and none is available; use the cpu backend")
        if not _gsplat_imports():
            raise InputError(
                "the cuda backend needs gsplat, which does not import; install it: pip install 'gscodec[cuda]'"
            )
        if device.type != "cuda":
            raise InputError(
                f"the cuda backend renders Gaussians on a CUDA device, these are on {device}; "
                "move them with .to('cuda')"
            )
        return "cuda"
    raise InputError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def _check_size(width: int, height: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"frame {name} must be a positive integer, got {v!r}")


def rasterize(splats: Splats2D, n_frames: int, width: int, height: int, backend: str = "auto") -> Tensor:
    """Composite already projected splats into (n_frames, height, width, 3) float images."""
    _check_size(width, height)
    which = _resolve(backend, splats.means.device)
    if which == "cuda":
        from gscodec.render import cuda

        return cuda.rasterize(splats, n_frames, width, height)
    from gscodec.render import cpu

    return cpu.rasterize(splats, n_frames, width, height)


def render_frames(g: Gaussians, ts: Sequence[float] | Tensor, width: int, height: int, backend: str = "auto",
                  mode: MotionMode | None = None) -> Tensor:
    """Render the frames at segment-local times ``ts`` (frame k at t = k): (T, height, width, 3) float32.

    All frames are projected and rasterized together (one gsplat call on the GPU, where the
    frame count allows), so prefer one call for a whole segment, or for a chunk of frames if
    the (T, H, W, 3) result would not fit in memory. Unclamped and differentiable. ``mode``: the
    segment's shared motion mode, if it has one (the times are then whole frames it covers).
    """
    _check_size(width, height)
    which = _resolve(backend, g.device)
    splats = project_frames(g, ts, mode)
    n = len(ts) if not isinstance(ts, Tensor) else int(ts.numel())
    return rasterize(splats, n, width, height, backend=which)


def render_frame(g: Gaussians, t: float, width: int, height: int, backend: str = "auto",
                 mode: MotionMode | None = None) -> Tensor:
    """Render one frame at segment-local time ``t``: (height, width, 3) float32, unclamped, differentiable."""
    return render_frames(g, [float(t)], width, height, backend=backend, mode=mode)[0]


def to_uint8(images: Tensor) -> Tensor:
    """The decoder's output step: 8-bit = floor(255 * clamp(C, 0, 1) + 0.5) (round half up), same shape."""
    return torch.floor(images.detach().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def to_host(frames: Tensor) -> np.ndarray:
    """``frames`` as a numpy array in host memory; from a GPU through page-locked memory.

    A copy from the GPU into ordinary (pageable) memory goes through the driver's staging buffer
    and runs at a fraction of the bus's speed; into page-locked memory it runs at full speed. The
    page-locked buffers come from torch's caching host allocator, so after the first batch they
    are reused, not allocated anew. The array keeps its buffer alive for as long as it is held.
    Where page-locked memory cannot be had (a limit on locked memory, say) the copy is pageable.
    """
    if frames.device.type != "cuda":
        return frames.detach().cpu().numpy()
    try:
        host = torch.empty(frames.shape, dtype=frames.dtype, pin_memory=True)
    except RuntimeError:
        return frames.detach().cpu().numpy()
    host.copy_(frames.detach())
    return host.numpy()

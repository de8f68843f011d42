"""What every config shares: the scale names, the scale environment variable, device checking.

Pure Python at the bottom of the import graph: nothing here imports torch at module level or any
training code (torch is imported lazily, only to ask whether a named accelerator exists).
"""
from __future__ import annotations

import os
import re

__all__ = ["SCALES", "SCALE_ENV", "default_scale", "check_scale", "check_device"]

SCALE_ENV = "EMBCOMPAT_SCALE"
SCALES = ("smoke", "demo", "paper")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_ALLOWED = "auto, cpu, cuda, cuda:N, mps"


def default_scale() -> str:
    """The scale named by ``$EMBCOMPAT_SCALE``, else ``demo``."""
    return os.environ.get(SCALE_ENV, "demo")


def check_scale(name: str | None) -> str:
    """``name`` (default :func:`default_scale`) if it is a known scale.

    Raises:
        ValueError: naming the allowed scales.
    """
    name = name or default_scale()
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; allowed: {', '.join(SCALES)}")
    return name


def check_device(device: str, *, available: bool = False) -> str:
    """Return ``device`` if it is ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``.

    Args:
        device: the device string a user typed.
        available: also check that this machine has the device (``cuda:7`` on a machine with
            one GPU, or any ``cuda`` on a CPU-only machine, fails here rather than deep in torch).

    Raises:
        ValueError: naming the allowed values, or what this machine has and the fix.
    """
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(f"unknown device {device!r}; allowed: {_ALLOWED}")
    if available and device not in ("auto", "cpu"):
        _check_available(device)
    return device


def _check_available(device: str) -> None:
    import torch  # lazily: only to ask what this machine has

    if device == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError("device 'mps' is not available on this machine; use device='auto' "
                             "(picks a CUDA GPU if there is one, else the CPU) or 'cpu'")
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.split(":")[1]) if ":" in device else 0
    if count == 0:
        raise ValueError(f"device {device!r} is not available: this machine has no CUDA device "
                         "(torch.cuda.is_available() is False); use device='auto' or 'cpu'")
    if index >= count:
        raise ValueError(f"device {device!r} is not available: this machine has {count} CUDA "
                         f"device(s), cuda:0..cuda:{count - 1}; use one of those or 'auto'")

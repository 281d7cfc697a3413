"""How far an NVML failure reaches: one reading, one GPU, or the whole library."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CHECKS = (
    "the NVIDIA driver is loaded (nvidia-smi works on the host), the container has GPU access "
    "(docker run --gpus all, or a compose device reservation with driver: nvidia), "
    "and pid: host is set for process attribution"
)


def _classes(nvml: Any, names: Iterable[str]) -> tuple[type[BaseException], ...]:
    found = (getattr(nvml, f"NVMLError_{name}", None) for name in names)
    return tuple(cls for cls in found if cls is not None)


class ErrorKinds:
    """The binding's exceptions sorted by how far a failure reaches."""

    def __init__(self, nvml: Any) -> None:
        # The binding raises NVMLLibraryMismatchError, a plain Exception, when an unversioned
        # wrapper meets a driver without the function: for us that is "not supported here".
        mismatch = getattr(nvml, "NVMLLibraryMismatchError", None)
        binding_mismatch = (mismatch,) if isinstance(mismatch, type) else ()
        self.any: tuple[type[BaseException], ...] = (nvml.NVMLError, *binding_mismatch)
        self.missing = (*_classes(nvml, ("FunctionNotFound",)), *binding_mismatch)
        self.unsupported = (
            *_classes(nvml, ("NotSupported", "NoPermission", "InvalidArgument")),
            *_classes(nvml, ("ArgumentVersionMismatch",)),
            *self.missing,
        )
        self.not_found = _classes(nvml, ("NotFound",))
        # Only these take a whole GPU down; any other error of one reading is that reading's.
        self.lost = _classes(nvml, ("GpuIsLost", "ResetRequired"))
        self.library = _classes(
            nvml, ("Uninitialized", "DriverNotLoaded", "LibRmVersionMismatch", "LibraryNotFound")
        )
        self.version_mismatch = _classes(nvml, ("LibRmVersionMismatch",))
        self.escalate = self.lost + self.library
        self.gone = self.lost + self.not_found


def init_failure_message(exc: BaseException) -> str:
    """The one line shown when NVML cannot start: what failed and what to check."""
    return f"NVML could not start ({exc}): check that {CHECKS}"

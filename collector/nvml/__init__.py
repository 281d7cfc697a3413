"""The NVML backend: real NVIDIA GPUs, read through the official nvidia-ml-py binding."""

from collector.nvml.backend import NvmlBackend, binding_version
from collector.nvml.buffer import active_seconds, sample_value
from collector.nvml.errors import init_failure_message

__all__ = [
    "NvmlBackend",
    "active_seconds",
    "binding_version",
    "init_failure_message",
    "sample_value",
]

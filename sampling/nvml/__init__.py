"""The NVML backend: real NVIDIA GPUs, read through the official nvidia-ml-py binding."""

from sampling.nvml.backend import NvmlBackend, binding_version
from sampling.nvml.buffer import active_seconds, sample_value
from sampling.nvml.errors import init_failure_message

__all__ = [
    "NvmlBackend",
    "active_seconds",
    "binding_version",
    "init_failure_message",
    "sample_value",
]

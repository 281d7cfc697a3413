"""The idle-GPU runner: starts configured jobs on idle GPUs and stops them the moment a
person needs the GPU (a foreign process appears, or a non-whitelisted user types)."""

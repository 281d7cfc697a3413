"""Where GPU readings come from: the NVML backend (real GPUs) and the simulated fleet.

The collector samples through a backend into the store; the idle runner asks the same
backend which processes hold each GPU. Neither service imports the other: both import this.
"""

"""The collector: samples every GPU and its processes into the shared store."""

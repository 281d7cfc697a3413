"""Code shared by test packages and benchmarks: stand-ins, row writers, apps and servers."""

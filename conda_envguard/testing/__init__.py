"""Helpers for testing and benchmarking envguard against real conda (as `conda.testing` is
for conda): stdlib only, never imported by the plugin itself."""

"""Test support shared by the pytest suite and the benchmarks: stdlib only, no conda import."""

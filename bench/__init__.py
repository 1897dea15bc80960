"""Benchmarks that print ratio tables; `python -m bench` runs every bench_*.py module."""

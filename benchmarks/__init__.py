"""Benchmarks for matcher, apart from the tests: `python -m benchmarks <name>` (see `--help`)."""

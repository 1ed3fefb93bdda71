"""`medenoise bench`: throughput, memory, training speed and equal-time quality, side by side.

Each part returns plain rows (dicts) so the JSON file, the markdown table and the tests read
the same numbers; `run_bench` ties them together (`medenoise bench`, `make bench`).
"""

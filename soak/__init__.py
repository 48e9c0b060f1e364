"""Long versions of the reliability tests (`make soak`); each script prints its figures.

Run from the repository root, e.g. `.venv/bin/python -m soak.fuzz --frames 100000`.
The short versions of the same checks run in `make test` (tests/test_*.py).
"""

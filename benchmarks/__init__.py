"""`make bench`: load generators, a reference server and the report (see run.py)."""

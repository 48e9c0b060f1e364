"""The pure core: consensus, progress, ordering, ranking and validation.

Nothing in this package awaits, stores or sends: it takes plain values and
returns plain values, so it is tested with plain synchronous tests.
"""

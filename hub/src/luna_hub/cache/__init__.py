"""A cache for hot reads, keyed by the versions of the series each answer depends on (see ``versions``)."""

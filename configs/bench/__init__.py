"""Bundled bench and sweep configs (``cfpc-gym bench``, ``cfpc-gym sweep``)."""

"""Reference servers for ioconform: the seed's I/O models, done right.

One module per I/O model, each runnable as ``python -m implementations.<module> PORT``;
``_common`` holds the plumbing they share.  ``mutants/`` holds deliberately broken
servers that the suite must reject.  The suite finds all of them through the TOML
manifests next to them, exactly as it finds a student's server, so this package never
imports ``conformance``.
"""

"""The harness: starts a server as a black box, drives clients, watches the process.

Nothing here judges; it produces transcripts and measurements for ``conformance.clauses``.
"""

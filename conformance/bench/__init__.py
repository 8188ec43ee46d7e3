"""``ioconform bench``: what each I/O model costs, measured side by side and drawn.

- ``loadgen.c``, ``pygen``: the load generator (C, built on demand; Python fallback);
- ``generator``: finding or building it, and one run of it with deadlines;
- ``measure``: one implementation's figures (rate, latency, CPU, bulk, capacity, memory);
- ``session``: which implementations, baselines included, and the alternating order;
- ``report``: the JSON document and the tables; ``plots``: the figures (matplotlib);
- ``command``: the command line.
"""

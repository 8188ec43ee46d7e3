"""Everything a course produces, at the top of the house beside the CLI.

- ``course``: the course config (points, hidden clauses, the models a course accepts).
- ``intake``: a submission's folder copied in safely, whatever it holds.
- ``submissions``: finding, preparing, building and starting submissions; each one's
  entry in the grade document.
- ``gradebook``: the grade document's outputs (Gradescope, GitHub Classroom, Markdown,
  JUnit), its summary and the merge of shards; ``html``: its offline HTML page.
- ``command``: ``ioconform grade`` and ``ioconform merge``.

Imports run one way: ``command`` uses the rest, ``html`` uses ``gradebook``, and nothing
below this package imports it (tests/test_layers.py).
"""

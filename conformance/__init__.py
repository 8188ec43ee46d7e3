"""ioconform: a conformance suite for TCP servers written in the classic I/O models.

Layers, bottom to top (each imports only from the layers below it):

* vocabulary -- ``models`` (the I/O model registry), ``clause`` (clause records and
  verdicts), ``events`` (the typed transcript a client driver records), ``manifest``
  (how an implementation under test is described);
* ``harness`` -- processes, ports, the client driver, the observers (fds, CPU, memory);
* ``clauses`` -- the contract itself, judged through ``clauses.verify``;
* ``runner`` and ``plugin`` -- one clause against one implementation, inside pytest;
* ``cli`` and ``report`` -- the ``ioconform`` command and its reports.
"""

__version__ = "0.1.0"

"""START and STOP: the server comes up on the port it is given and goes down on request."""

from __future__ import annotations

import signal

from conformance.clause import Failed, Level, clause
from conformance.clauses import verify
from conformance.harness.driver import Client
from conformance.harness.process import ServerProcess, describe_exit
from conformance.harness.session import Session
from conformance.models import Concurrency


@clause("START-1", Level.MUST, """
    The server listens on the TCP port given in its command line ({port}) within the startup
    deadline and accepts a connection there.""",
    hint="""read the port from argv (or the IOCONFORM_PORT environment variable) instead of a
    fixed 3000/8000, and check the return values of socket(), bind() and listen()""",
    source="listen(2), accept(2): a server that never listens on its port serves no client")
def start_listens(s: Session) -> None:
    # The runner has already waited for LISTEN; a connection proves accept() is reachable.
    c = s.connect_one()
    verify.connected(s, [c])
    s.roundtrip([(c, s.payload(0, 16))])
    verify.served(s, [(c, s.payload(0, 16))])


def _connected_and_served(s: Session) -> list[Client]:
    """Two connected clients, as many of them served as the model serves at once."""
    clients = s.connect(2)
    verify.connected(s, clients)
    concurrent = s.model.concurrency is Concurrency.CONCURRENT
    work = [(c, s.payload(c.conn, 32)) for c in (clients if concurrent else clients[:1])]
    s.roundtrip(work)
    verify.served(s, work)
    return clients


def _stop(s: Session, sig: signal.Signals, how: str) -> None:
    clients = _connected_and_served(s)
    s.server.signal(sig)
    code = s.server.wait_exit(s.timing.stop)
    if code is None:
        raise Failed(
            f"the server is still running {s.timing.stop:g} s after {sig.name}",
            expected=f"exit within {s.timing.stop:g} s of {sig.name} ({how})",
            actual="still running", hint=f"""do not ignore or block {sig.name}; a loop that
            retries on EINTR forever also swallows it. Keep the default action, or make the
            handler end the blocked call too: a flag alone is not enough, because the
            interrupted accept()/recv() is restarted (SA_RESTART; Python retries after
            EINTR, PEP 475) -- raise an exception, or wake the loop through a pipe""")
    s.driver.read_until_eof(clients, total=s.timing.stall)
    verify.closed_by_server(s, clients, hint="""a child process that inherited the sockets
        keeps them open after the parent exits: close them in the child, or make sure
        children exit with the parent""")


@clause("STOP-1", Level.MUST, """
    On SIGTERM the server exits within the stop deadline, and its clients' connections are
    closed.""",
    hint="keep SIGTERM's default action, or handle it by leaving the loop and closing sockets",
    source="signal(7): SIGTERM's default action is to terminate the process; close(2)",
    gaps={"wine": """Wine cannot deliver a console control event (CTRL_BREAK_EVENT) to a
          process group: GenerateConsoleCtrlEvent fails (ERROR_INVALID_ACCESS)"""})
def stop_sigterm(s: Session) -> None:
    _stop(s, signal.SIGTERM, "what `kill PID` and service managers send")


@clause("STOP-2", Level.MUST, """
    On SIGINT (Ctrl-C) the server exits within the stop deadline, and its clients'
    connections are closed.""",
    hint="keep SIGINT's default action, or handle it by leaving the loop and closing sockets",
    source="signal(7): SIGINT's default action is to terminate the process; close(2)",
    gaps={"wine": """Wine cannot deliver a console control event (CTRL_C_EVENT) to a process
          group: GenerateConsoleCtrlEvent fails (ERROR_INVALID_ACCESS)""",
          "windows": """Windows cannot send Ctrl-C (CTRL_C_EVENT) to one process group: a
          new group starts with Ctrl-C disabled; STOP-1 stops the server with
          Ctrl-Break"""})
def stop_sigint(s: Session) -> None:
    _stop(s, signal.SIGINT, "what Ctrl-C sends")


@clause("STOP-3", Level.SHOULD, """
    After the server stopped with clients still connected, a new instance can listen on the
    same port immediately (SO_REUSEADDR), without waiting for TIME_WAIT to expire.""",
    hint="""set SO_REUSEADDR on the listening socket before bind(); without it the
    connections the old server closed block the port for a minute or more""",
    source="""socket(7) SO_REUSEADDR; tcp(7) TIME_WAIT (quality: a restart is not a defect of
    the model)""")
def stop_port_reusable(s: Session) -> None:
    _connected_and_served(s)
    s.server.signal(signal.SIGTERM)
    if s.server.wait_exit(s.timing.stop) is None:
        s.server.kill()
    with ServerProcess(s.impl, s.server.port) as again:
        if not again.wait_listening(s.timing.startup):
            raise Failed(
                "a restarted server could not listen on the same port",
                expected=f"listening on port {s.server.port} again",
                actual=describe_exit(again.returncode()),
                details=(again.output_tail(),),
                hint="""set SO_REUSEADDR on the listening socket before bind(): bind() fails
                with EADDRINUSE ('Address already in use') while the old connections
                linger""")

"""The operator console: a local web page beside the mocks, for the people who use them.

It lists the exchanges the mocks record, live, per service and session, in their raw and
parsed forms; it sets the fault injection scenarios the mocks understand; and during
``segur run --sut manual`` it shows the operator the step to perform and takes their answer
(:class:`ManualDesk`, shared with :mod:`harness.run.sut.manual`).

It is served on loopback only and trusts no other page: every request must name a loopback
Host (DNS rebinding), and a change needs the ``X-Segur-Console`` header, which no cross-site
form can send, plus a same-origin ``Origin`` when a browser gives one (CSRF). The page builds
its DOM with ``textContent`` only and JSON answers escape ``<``, ``>`` and ``&``, so recorded
bytes are never read as markup.

The switches are read from the mocks' own constants, which is why this package, like
``environment.py``, imports from ``mock_services``.

The package: ``app`` (the routes and serving them), ``switches`` (the fault injection
switches), ``desk`` (the manual step and its answer), ``exchanges`` (what the page shows of
the exchange store), ``guard`` (the defences of a local page) and ``page`` (the HTML). The
names below are its interface.
"""

from harness.run.console.app import ConsoleApp, RunningConsole, start_console
from harness.run.console.desk import ManualDesk, ManualStep, OperatorAnswer

__all__ = ["ConsoleApp", "ManualDesk", "ManualStep", "OperatorAnswer", "RunningConsole", "start_console"]

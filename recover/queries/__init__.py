"""The read path: what ``case list``, ``case show``, ``queue list``, ``addresses list``, ``prices
list``, ``networks``, ``policy show`` and the web queue's pages show, as plain data.

One implementation for the CLI, the web pages and the Python API's read functions.  It reads the
case database through plain DB-API (``sqlite3``, ``psycopg``), never through SQLAlchemy or SQLModel,
and imports no chain adapter or SDK: a plan's human-readable rows were stored when the plan was made
(``sweep_plans.steps_view``).  Approval state is derived from the signed statements by the very
functions the signer runs (:mod:`recover.authority.statement_checks`, :mod:`recover.authority.signed_case`,
:mod:`recover.authority.approval_state`), over plain rows.  Start-up time is the point: these are the commands
specialists type all day (``benchmarks/cli_startup.py``).
"""

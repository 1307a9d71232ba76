"""nas-worker: your own PyTorch training function as a trainer of a nas
search fleet.

``nas-worker --redis URL --entry mypkg.train:evaluate`` claims the jobs of
searches whose spec says ``[evaluator.python] entry = "mypkg.train:evaluate"``
and calls ``evaluate(job) -> dict`` for each; the queue gives it leases,
fencing, retries and exactly-once results, as it gives the Rust trainers.
Embed it with :class:`Worker`. The protocol is docs/PROTOCOL.md.
"""
from .protocol import FUNCTIONS_VERSION, SCHEMA_VERSION, FunctionsMissing, FunctionsVersionError, ProtocolError
from .worker import Cancelled, Diverged, Job, PermanentError, Report, RetryableError, Worker, WorkerConfig, load_entry

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "Diverged",
    "FUNCTIONS_VERSION",
    "FunctionsMissing",
    "FunctionsVersionError",
    "Job",
    "PermanentError",
    "ProtocolError",
    "Report",
    "RetryableError",
    "SCHEMA_VERSION",
    "Worker",
    "WorkerConfig",
    "load_entry",
]

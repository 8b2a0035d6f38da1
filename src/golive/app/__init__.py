"""The composition root: `GoliveServer` builds every layer and wires them together
(server.py), from parts that each hold one concern of running them; `serve` and `run` are
the `golive serve` process (process.py). Only cli.py imports this package."""

from golive.app.process import run, serve
from golive.app.server import GoliveServer

__all__ = ["GoliveServer", "run", "serve"]

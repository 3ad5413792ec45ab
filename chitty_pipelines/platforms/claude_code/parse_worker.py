"""Entry point of a parse worker process (``python -m``; parallel.py starts them).

A module of its own so that the classes the worker pickles are ``parallel.ParsedUnit``, not
``__main__.ParsedUnit`` (which the parent could not unpickle).
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder


class _NoPandas(MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (a parse worker needs none)", name=name)


def without_pandas() -> None:
    """Make ``import pandas`` fail in this process. pyarrow's ``pa.array()`` imports pandas only
    to ask whether its input is a pandas object (0.2-0.3 s of every worker's start-up, on every
    core); a worker converts Python lists and never holds a pandas object, and pyarrow reads the
    ImportError as "pandas is not installed". (``sys.modules["pandas"] = None`` is not enough:
    pyarrow's compiled import takes the None for the module.)"""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


if __name__ == "__main__":
    without_pandas()
    from chitty_pipelines.platforms.claude_code.parallel import serve

    serve(int(sys.argv[1]))  # the descriptor of the results pipe, passed by the parent

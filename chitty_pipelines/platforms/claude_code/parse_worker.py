"""Entry point of a parse worker process (``python -m``; parallel.py starts them).

A module of its own so that the classes the worker pickles are ``parallel.ParsedUnit``, not
``__main__.ParsedUnit`` (which the parent could not unpickle).
"""

import sys

from chitty_pipelines.platforms.claude_code.parallel import serve

if __name__ == "__main__":
    serve(int(sys.argv[1]))  # the descriptor of the results pipe, passed by the parent

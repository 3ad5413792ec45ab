"""``python -m chitty_pipelines.cli``: the same CLI as ``chitty-sync``."""

from chitty_pipelines.cli import main

main()

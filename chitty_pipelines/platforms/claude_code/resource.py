"""The claude_code platform's resource: the Claude Code data folders (`claude_homes`:
CLAUDE_HOME or CLAUDE_CONFIG_DIR, default ~/.claude; each may hold projects/).

The three local AI-tool platforms read files, not an API, so they share one resource
(`kernel/local_files.LocalSessionsResource`, key `local_sessions`): one set of folders and
one walker that never opens a non-regular file. This module is the platform's entry in that
contract (the registry loads `<platform>.resource` like every other platform's).
"""

from chitty_pipelines.kernel.local_files import LocalSessionsResource

__all__ = ["LocalSessionsResource"]

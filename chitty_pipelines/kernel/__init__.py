"""The stream-run kernel: what every platform asset shares (results, cursors, rejects, checks,
retries, local file walking, the fake-server base)."""

"""Pure parsers: bytes and JSON in, warehouse rows and rejects out. No I/O beyond reading files."""

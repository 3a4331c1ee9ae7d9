"""Reference writers, one module per test area. Each exposes write(path)."""

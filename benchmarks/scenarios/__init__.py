"""One module per scenario; each exposes ``run(database, size, rounds) -> Result``."""

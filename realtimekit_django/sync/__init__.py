"""Keeping local = remote: the paged walks (:mod:`.reconcile`), what to walk next within the
rate budget (:mod:`.schedule`), and the receivers of what the services signal (:mod:`.receivers`:
the services never import this package)."""

"""Keeping local = remote: the paged walks (:mod:`.reconcile`) and what to walk next within the
rate budget (:mod:`.schedule`)."""

"""Keeping local = remote: what to walk next within the rate budget (:mod:`.schedule`).

The walks themselves are :mod:`realtimekit_django.reconcile`.
"""

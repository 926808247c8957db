"""RealtimeKit webhooks: signed deliveries verified (:mod:`.verify`), stored once by the
receiver (:mod:`.views`, mounted by :mod:`.urls`) and processed later by a task
(:mod:`.handlers`) into live sessions and attendance."""

"""Two layouts of a second database: the app alone there (refused), and the app with auth."""

APP = {"realtimekit"}
APP_AND_USERS = {"realtimekit", "auth", "contenttypes", "admin"}


class _Router:
    labels: set[str] = set()
    alias = "other"

    def _db(self, model):
        return self.alias if model._meta.app_label in self.labels else "default"

    def db_for_read(self, model, **hints):
        return self._db(model)

    def db_for_write(self, model, **hints):
        return self._db(model)

    def allow_relation(self, obj1, obj2, **hints):
        return self._db(type(obj1)) == self._db(type(obj2))

    def allow_migrate(self, db, app_label, **hints):
        return db == (self.alias if app_label in self.labels else "default")


class AppOnlyRouter(_Router):
    """The app's models on ``other``, the users on ``default``: Participant.user crosses databases."""

    labels = APP


class AppAndUsersRouter(_Router):
    """The app, auth, contenttypes and admin on ``other``; sessions and the rest on ``default``."""

    labels = APP_AND_USERS

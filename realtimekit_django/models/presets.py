"""The app's presets, mirrored so that forms and policies can offer and check them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Preset(models.Model):
    """A preset of this RealtimeKit app (the permissions and UI a participant joins with).

    The listing gives only the id, name and times; that is what is mirrored, so that forms
    offer a choice of the app's presets and a preset name is checked before any call.
    """

    id = models.UUIDField(_("preset id"), primary_key=True, editable=False)
    app_id = models.CharField(_("app id"), max_length=100, db_index=True, editable=False)
    name = models.CharField(_("name"), max_length=255)
    remote_created_at = models.DateTimeField(_("created (remote)"), null=True, blank=True)
    remote_updated_at = models.DateTimeField(_("updated (remote)"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    remote_data = models.JSONField(_("last remote payload"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("preset")
        verbose_name_plural = _("presets")
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=["app_id", "name"], name="realtimekit_preset_name_per_app")
        ]

    def __str__(self) -> str:
        return self.name

"""The presets mirror in the admin: read only (presets are edited in RealtimeKit's dashboard
or through ``client.presets``; the presets walk keeps the mirror)."""

from __future__ import annotations

from django.contrib import admin

from ..models import Preset


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ("name", "app_id", "remote_updated_at", "synced_at")
    search_fields = ("name",)
    readonly_fields = ("id", "app_id", "name", "remote_created_at", "remote_updated_at", "synced_at")
    exclude = ("remote_data",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

"""Admin forms: meeting settings as structured fields, and the "add a participant" form.

The API's nested ``ai_config`` and ``recording_config`` are edited field by field, each built
from the contract in :mod:`realtimekit_django.schema` (its enums become choices, its ``BOUNDS``
become min/max), so a staff member picks a value instead of typing JSON, and an out-of-range
number is refused by the form before anything is sent.

A valid :class:`MeetingForm` *is* a remote write: once Django's own validation passed, the form
calls the service (create, or PATCH with only what changed) and turns any API or contract error
into form errors. A failed call therefore shows on the form and leaves the database untouched;
``save()`` just hands back the row the service wrote. Storage secrets are password inputs that
are never pre-filled nor rendered back, and a blank one means "don't send".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import django
from django import forms
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.core.validators import URLValidator
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import schema, services
from .conf import get_settings
from .exceptions import RealtimeKitError, ValidationError
from .models import Meeting, Participant

# -- the structured config fields -------------------------------------------------------------


@dataclass(frozen=True)
class ConfigField:
    """One form field standing for one dotted path inside ``ai_config`` / ``recording_config``."""

    name: str
    path: str
    label: str
    kind: str  # choice, int, float, bool, url, stream_url, text, keywords, secret
    choices: tuple[str, ...] = ()

    @property
    def root(self) -> str:
        return self.path.split(".", 1)[0]


def _fields(root: str, *rows: tuple) -> tuple[ConfigField, ...]:
    """Rows of (form field name, path inside ``root``, label, kind[, choices])."""
    return tuple(ConfigField(name, f"{root}.{path}", label, *rest) for name, path, label, *rest in rows)


AI_FIELDS = _fields(
    "ai_config",
    ("ai_summary_type", "summarization.summary_type", _("summary type"), "choice", schema.SUMMARY_TYPES),
    ("ai_summary_format", "summarization.text_format", _("summary format"), "choice", schema.TEXT_FORMATS),
    ("ai_summary_word_limit", "summarization.word_limit", _("summary word limit"), "int"),
    ("ai_transcription_keywords", "transcription.keywords", _("transcription keywords"), "keywords"),
    (
        "ai_transcription_language",
        "transcription.language",
        _("transcription language"),
        "choice",
        schema.TRANSCRIPTION_LANGUAGES,
    ),
    ("ai_transcription_profanity_filter", "transcription.profanity_filter", _("profanity filter"), "bool"),
)
RECORDING_FIELDS = _fields(
    "recording_config",
    ("rec_audio_channel", "audio_config.channel", _("audio channel"), "choice", schema.AUDIO_CHANNELS),
    ("rec_audio_codec", "audio_config.codec", _("audio codec"), "choice", schema.AUDIO_CODECS),
    ("rec_audio_export_file", "audio_config.export_file", _("export audio file"), "bool"),
    ("rec_video_codec", "video_config.codec", _("video codec"), "choice", schema.VIDEO_CODECS),
    ("rec_video_width", "video_config.width", _("video width"), "int"),
    ("rec_video_height", "video_config.height", _("video height"), "int"),
    ("rec_video_export_file", "video_config.export_file", _("export video file"), "bool"),
    ("rec_watermark_url", "video_config.watermark.url", _("watermark URL"), "url"),
    (
        "rec_watermark_position",
        "video_config.watermark.position",
        _("watermark position"),
        "choice",
        schema.WATERMARK_POSITIONS,
    ),
    ("rec_watermark_width", "video_config.watermark.size.width", _("watermark width"), "int"),
    ("rec_watermark_height", "video_config.watermark.size.height", _("watermark height"), "int"),
    ("rec_file_name_prefix", "file_name_prefix", _("file name prefix"), "text"),
    ("rec_max_seconds", "max_seconds", _("maximum length (seconds)"), "float"),
    ("rec_rtmp_url", "live_streaming_config.rtmp_url", _("live stream RTMP URL"), "stream_url"),
    ("rec_bucket_enabled", "realtimekit_bucket_config.enabled", _("store in RealtimeKit's bucket"), "bool"),
)
STORAGE_FIELDS = _fields(
    "recording_config",
    ("storage_type", "storage_config.type", _("storage type"), "choice", schema.STORAGE_TYPES),
    ("storage_bucket", "storage_config.bucket", _("bucket"), "text"),
    ("storage_region", "storage_config.region", _("region"), "text"),
    ("storage_path", "storage_config.path", _("path"), "text"),
    ("storage_host", "storage_config.host", _("host"), "text"),
    ("storage_port", "storage_config.port", _("port"), "int"),
    ("storage_username", "storage_config.username", _("username"), "text"),
    ("storage_auth", "storage_config.auth_method", _("auth method"), "choice", schema.STORAGE_AUTH_METHODS),
    *(
        (f"storage_{key}", f"storage_config.{key}", key.replace("_", " "), "secret")
        for key in schema.STORAGE_WRITE_ONLY_KEYS
    ),
)
CONFIG_FIELDS = AI_FIELDS + RECORDING_FIELDS + STORAGE_FIELDS
CONFIG_BY_PATH = {spec.path: spec for spec in CONFIG_FIELDS}
SECRET_FIELD_NAMES = tuple(spec.name for spec in STORAGE_FIELDS if spec.kind == "secret")

MEETING_MODEL_FIELDS = (
    "title",
    "status",
    *schema.MEETING_BOOLEAN_FIELDS,
    "session_keep_alive_time_in_secs",
)

_SECRET_HELP = _(
    "Write-only: never shown again. Leave blank to keep what RealtimeKit has; when you change other "
    "recording settings, type it again if the API should keep it."
)


class NotSetYesNoSelect(forms.NullBooleanSelect):
    """Inside a nested config, "not set" (leave it to the API) is not the same as "no"."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.choices = [("unknown", _("Not set")), ("true", _("Yes")), ("false", _("No"))]


def _form_field(spec: ConfigField) -> forms.Field:
    bounds = schema.BOUNDS.get(spec.path, (None, None))
    common: dict[str, Any] = {"label": capfirst(spec.label), "required": False}
    if spec.kind == "choice":
        return forms.ChoiceField(choices=[("", "---------"), *((c, c) for c in spec.choices)], **common)
    if spec.kind == "int":
        return forms.IntegerField(min_value=bounds[0], max_value=bounds[1], **common)
    if spec.kind == "float":
        return forms.FloatField(min_value=bounds[0], max_value=bounds[1], **common)
    if spec.kind == "bool":
        # Three states: "not set" must stay distinguishable from "off" inside a nested object.
        return forms.NullBooleanField(widget=NotSetYesNoSelect, **common)
    if spec.kind == "url":
        return url_field(max_length=schema.MAX_STRING_LENGTH, **common)
    if spec.kind == "stream_url":
        return url_field(max_length=schema.MAX_STRING_LENGTH, field_class=StreamURLField, **common)
    if spec.kind == "keywords":
        return forms.CharField(help_text=_("Comma-separated."), **common)
    if spec.kind == "secret":
        return forms.CharField(
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            help_text=_SECRET_HELP,
            strip=False,
            **common,
        )
    return forms.CharField(max_length=schema.MAX_STRING_LENGTH, **common)


class StreamURLField(forms.URLField):
    """Live-stream targets are not web pages: the streaming schemes are valid too."""

    default_validators = [URLValidator(schemes=["rtmp", "rtmps", "srt", "rtsp", "http", "https"])]


def url_field(*, field_class: type[forms.URLField] = forms.URLField, **kwargs: Any) -> forms.URLField:
    """Django 5.0+ warns unless URLField is told its default scheme; 4.2 does not know the argument."""
    if django.VERSION >= (5, 0):
        kwargs.setdefault("assume_scheme", "https")
    return field_class(**kwargs)


def _get_path(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _set_path(data: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def _initial_value(spec: ConfigField, stored: Any) -> Any:
    if spec.kind == "secret":
        return None  # never known, never shown
    if spec.kind == "keywords" and isinstance(stored, list):
        return ", ".join(str(word) for word in stored)
    return stored


def _payload_value(spec: ConfigField, value: Any) -> Any:
    """The API value for a cleaned form value; ``None`` means "leave it out"."""
    if value in (None, ""):
        return None
    if spec.kind == "keywords":
        words = [word.strip() for word in value.split(",") if word.strip()]
        return words or None
    return value


def build_configs(cleaned_data: dict) -> dict[str, dict]:
    """``{"ai_config": {...}, "recording_config": {...}}`` from the structured fields."""
    configs: dict[str, dict] = {"ai_config": {}, "recording_config": {}}
    for spec in CONFIG_FIELDS:
        value = _payload_value(spec, cleaned_data.get(spec.name))
        if value is not None:
            _set_path(configs[spec.root], spec.path.split(".", 1)[1], value)
    return configs


def field_for_error_path(path: str) -> str | None:
    """The form field an API/contract error path belongs to, if the form shows that value."""
    if path in CONFIG_BY_PATH:
        return CONFIG_BY_PATH[path].name
    if path in MEETING_MODEL_FIELDS:
        return path
    return None


def add_service_error(form: forms.Form, err: RealtimeKitError) -> None:
    """Show a service error on ``form``: contract errors on their fields, the rest on top."""
    if isinstance(err, ValidationError) and err.errors:
        for path, problem in err.errors:
            name = field_for_error_path(path)
            if name is not None and name in form.fields:
                form.add_error(name, problem)
            else:
                form.add_error(None, f"{path}: {problem}" if path else problem)
        return
    form.add_error(None, _("RealtimeKit refused the change: %(error)s") % {"error": err})


# -- the meeting form ---------------------------------------------------------------------------


# A declared-fields base, so the admin's modelform_factory accepts these names in fieldsets.
ConfigFieldsForm = type(
    "ConfigFieldsForm", (forms.Form,), {spec.name: _form_field(spec) for spec in CONFIG_FIELDS}
)


class MeetingForm(ConfigFieldsForm, forms.ModelForm):
    """Create (POST) or change (PATCH with only the changed fields) a meeting through services."""

    session_keep_alive_time_in_secs = forms.FloatField(
        label=_("Session keep-alive (seconds)"),
        min_value=schema.BOUNDS["session_keep_alive_time_in_secs"][0],
        max_value=schema.BOUNDS["session_keep_alive_time_in_secs"][1],
        initial=60,
    )

    class Meta:
        model = Meeting
        fields = MEETING_MODEL_FIELDS
        widgets = {"title": forms.TextInput(attrs={"class": "vTextField"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            for spec in CONFIG_FIELDS:
                if spec.name in self.fields:
                    stored = _get_path(getattr(self.instance, spec.root), spec.path.split(".", 1)[1])
                    self.fields[spec.name].initial = _initial_value(spec, stored)
        if "status" in self.fields and self.instance._state.adding:
            del self.fields["status"]  # the API sets it on create; PATCH alone changes it
        self.saved_meeting: Meeting | None = None

    @property
    def is_adding(self) -> bool:
        return self.instance._state.adding

    def _post_clean(self) -> None:
        # Django's own validation (fields, clean(), the model's) first; the remote write only
        # when all of it passed, so a refused form never reaches RealtimeKit.
        super()._post_clean()
        if self.errors:
            return
        if not getattr(self.instance, "_realtimekit_formsets_valid", True):
            self.add_error(None, _("Nothing was sent to RealtimeKit: correct the errors below first."))
            return
        try:
            if self.is_adding:
                self.saved_meeting = services.create_meeting(**self.create_payload())
            else:
                self.saved_meeting = services.update_meeting(self.instance, **self.changes())
        except RealtimeKitError as err:
            add_service_error(self, err)

    def create_payload(self) -> dict:
        data = self.cleaned_data
        payload: dict[str, Any] = {name: data[name] for name in schema.MEETING_BOOLEAN_FIELDS}
        if data.get("title"):
            payload["title"] = data["title"]
        payload["session_keep_alive_time_in_secs"] = data["session_keep_alive_time_in_secs"]
        for root, config in build_configs(data).items():
            if config:
                payload[root] = config
        return payload

    def changes(self) -> dict:
        """What the PATCH carries: changed top-level fields, and each config object whose
        fields changed (sent whole, since the API replaces a top-level object)."""
        data = self.cleaned_data
        changed = set(self.changed_data)
        changes: dict[str, Any] = {}
        for name in MEETING_MODEL_FIELDS:
            if name in changed and name in self.fields:
                value = data[name]
                changes[name] = "" if name == "title" and value is None else value
        configs = build_configs(data)
        for root in ("ai_config", "recording_config"):
            if any(spec.name in changed for spec in CONFIG_FIELDS if spec.root == root):
                changes[root] = configs[root]
        return changes

    def save(self, commit: bool = True) -> Meeting:
        """The row the service wrote in ``_post_clean`` (nothing is saved here)."""
        if self.saved_meeting is None:
            raise ValueError("MeetingForm.save() called on a form that did not validate")
        self.instance = self.saved_meeting
        self.save_m2m = lambda: None
        return self.saved_meeting


# -- participants -------------------------------------------------------------------------------


class AddParticipantForm(forms.Form):
    """Who to add to a meeting: a custom participant id, or a site user (or both)."""

    custom_participant_id = forms.CharField(
        label=_("Custom participant id"),
        required=False,
        max_length=255,
        help_text=_("Your own stable id for the person. Leave blank to derive it from the site user."),
    )
    user = forms.ModelChoiceField(label=_("Site user"), queryset=None, required=False)
    preset_name = forms.CharField(label=_("Preset"), max_length=255)
    name = forms.CharField(label=_("Display name"), required=False, max_length=schema.MAX_STRING_LENGTH)
    picture = url_field(label=_("Picture URL"), required=False, max_length=2048)

    def __init__(self, *args: Any, meeting: Meeting, admin_site=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meeting = meeting
        self.fields["user"].queryset = get_user_model()._default_manager.all()
        if admin_site is not None:
            self.fields["user"].widget = ForeignKeyRawIdWidget(
                Participant._meta.get_field("user").remote_field, admin_site
            )
        config = get_settings()
        self.fields["preset_name"].initial = config.default_preset
        self.fields["preset_name"].help_text = _("For example %(default)s or %(host)s.") % {
            "default": config.default_preset,
            "host": config.host_preset,
        }

    def clean(self) -> dict:
        data = super().clean()
        user = data.get("user")
        if not data.get("custom_participant_id") and user is None:
            raise forms.ValidationError(_("Give a custom participant id or choose a site user."))
        if user is not None and Participant.objects.filter(meeting=self.meeting, user=user).exists():
            self.add_error(
                "user", _("This user is already a participant of this meeting; refresh their token instead.")
            )
        return data

    def service_kwargs(self) -> dict:
        """The arguments of ``services.add_participant``; blanks come from the site's policies."""
        data = self.cleaned_data
        user = data.get("user")
        config = get_settings()
        custom_id = data.get("custom_participant_id") or config.participant_id_function(user)
        name = data.get("name") or (config.display_name_function(user) if user is not None else None)
        picture = data.get("picture") or (config.picture_function(user) if user is not None else None)
        return {
            "custom_participant_id": custom_id,
            "preset_name": data["preset_name"],
            "name": name or None,
            "picture": picture or None,
            "user": user,
        }


class ParticipantForm(forms.ModelForm):
    """Change a participant's name, picture or preset with a PATCH (the token it returns is dropped)."""

    EDITABLE = ("name", "picture", "preset_name")

    picture = url_field(label=_("Picture"), required=False, max_length=2048)

    class Meta:
        model = Participant
        fields = ("name", "picture", "preset_name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved_participant: Participant | None = None

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        changes = {name: self.cleaned_data[name] for name in self.changed_data if name in self.EDITABLE}
        try:
            self.saved_participant = services.edit_participant(self.instance, **changes)
        except RealtimeKitError as err:
            add_service_error(self, err)

    def save(self, commit: bool = True) -> Participant:
        if self.saved_participant is None:
            raise ValueError("ParticipantForm.save() called on a form that did not validate")
        self.save_m2m = lambda: None
        return self.saved_participant


__all__ = [
    "AI_FIELDS",
    "CONFIG_FIELDS",
    "RECORDING_FIELDS",
    "STORAGE_FIELDS",
    "AddParticipantForm",
    "MeetingForm",
    "ParticipantForm",
    "build_configs",
]

"""Admin forms: meeting settings as structured fields, stale-edit guards, and the "add a
participant" form.

The API's nested ``ai_config`` and ``recording_config`` are edited field by field, each built
from the contract in :mod:`realtimekit_django.schema` (its enums become choices, its ``BOUNDS``
become min/max), so a staff member picks a value instead of typing JSON, and an out-of-range
number is refused by the form before anything is sent.

Validating a form never calls RealtimeKit. ``save()`` (with the default ``commit=True``) is the
remote write: it calls the service (create, or PATCH with only what this editor changed), the
service stores the row the API answered with, and the form's instance is reloaded from it.
``save(commit=False)`` keeps Django's meaning (the instance, unsaved), which is what the admin's
``save_form`` asks for before its ``save_model`` calls ``save()``; see
:class:`~realtimekit_django.admin.helpers.WritesThroughServices` for how a refused write comes
back onto the form.

A change form remembers what its editor saw (:class:`SeenValuesForm`), so that it sends only
what this editor changed and refuses to overwrite a field someone else changed meanwhile.
Storage secrets are password inputs that are never pre-filled nor rendered back, and a blank
one means "don't send".
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import django
from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .. import schema, services
from ..conf import get_settings
from ..exceptions import RealtimeKitError, ValidationError
from ..models import Meeting, Participant
from .helpers import refusal

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


def _unset_path(data: dict, path: str) -> None:
    """Remove ``path`` from ``data``, and every object the removal leaves empty."""
    key, _dot, rest = path.partition(".")
    if key not in data:
        return
    if rest and isinstance(data[key], dict):
        _unset_path(data[key], rest)
        if data[key]:
            return
    elif rest:
        return
    del data[key]


def apply_config_edits(stored: dict, edits: dict[ConfigField, Any]) -> dict:
    """``stored`` (one config object as the row holds it) with the edited fields applied.

    Only what the editor changed is touched: keys the form does not show, and values someone
    else set since, stay as stored; a field cleared in the form is removed.
    """
    config = copy.deepcopy(stored) if isinstance(stored, dict) else {}
    for spec, cleaned in edits.items():
        path = spec.path.split(".", 1)[1]
        value = _payload_value(spec, cleaned)
        if value is None:
            _unset_path(config, path)
        else:
            _set_path(config, path, value)
    return config


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
    form.add_error(None, refusal(err))


# -- what the editor saw ----------------------------------------------------------------------


def row_version(row: Meeting | Participant) -> str:
    """A digest of the remote state a row was built from: it changes whenever the row does."""
    state = [str(row.remote_updated_at), row.remote_data]
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:32]


STALE_PAGE = _(
    "This page is out of date or incomplete, so what you changed cannot be told apart from what "
    "you saw. Nothing was sent: reload the page and make your change again."
)


class SeenValuesForm(forms.Form):
    """A change form that knows what its editor saw, and sends only what they changed.

    Every field in ``guarded_fields`` renders its value a second time, as a hidden initial
    (Django's ``show_hidden_initial``), so ``changed_data`` compares what was posted with what
    was *shown*, not with the row as it is when the form comes back: a field the editor left
    alone is not sent, even when someone else changed it meanwhile (their change is kept).
    ``seen_version`` carries :func:`row_version` of the row as it was shown. When the row has
    changed since, every field the editor changed is checked: one that someone else changed
    too, to another value, is an error on that field and nothing is sent.
    """

    seen_version = forms.CharField(widget=forms.HiddenInput, required=False)

    guarded_fields: tuple[str, ...] = ()
    #: A RealtimeKit error from an earlier attempt at this very POST, shown on the form.
    refused_write: RealtimeKitError | None = None

    def guard_what_was_seen(self) -> None:
        for name in self.guarded_fields:
            if name in self.fields:
                self.fields[name].show_hidden_initial = True
        self.initial["seen_version"] = row_version(self.instance)

    def clean(self) -> dict:
        data = super().clean()
        if "seen_version" in self.fields:
            self._refuse_stale_edits()
        if self.refused_write is not None:
            add_service_error(self, self.refused_write)
        return data

    def _seen_value(self, name: str) -> Any:
        bound = self[name]
        return (
            self.fields[name]
            .hidden_widget()
            .value_from_datadict(self.data, self.files, bound.html_initial_name)
        )

    def _refuse_stale_edits(self) -> None:
        guarded = [name for name in self.guarded_fields if name in self.fields]
        seen_version = self.cleaned_data.get("seen_version")
        if not seen_version or any(self[name].html_initial_name not in self.data for name in guarded):
            self.add_error(None, STALE_PAGE)
            return
        if seen_version == row_version(self.instance):
            return  # nobody changed the row since the page was shown
        for name in self.changed_data:
            if name not in guarded:
                continue
            field, now = self.fields[name], self[name].initial
            if field.has_changed(now, self._seen_value(name)) and field.has_changed(now, self[name].data):
                self.add_error(
                    name,
                    _(
                        "Someone else changed this since you opened the page (it is now “%(now)s”). "
                        "Nothing was sent: reload the page to see the current values."
                    )
                    % {"now": "" if now is None else now},
                )

    def edited_fields(self) -> list[str]:
        """What this editor changed relative to what they saw, and that differs from the row now."""
        return [
            name
            for name in self.changed_data
            if name != "seen_version" and self.fields[name].has_changed(self[name].initial, self[name].data)
        ]


# -- the meeting form ---------------------------------------------------------------------------


# A declared-fields base, so the admin's modelform_factory accepts these names in fieldsets.
ConfigFieldsForm = type(
    "ConfigFieldsForm", (forms.Form,), {spec.name: _form_field(spec) for spec in CONFIG_FIELDS}
)


class MeetingForm(ConfigFieldsForm, SeenValuesForm, forms.ModelForm):
    """Create (POST) or change (PATCH with only what this editor changed) a meeting."""

    session_keep_alive_time_in_secs = forms.FloatField(
        label=_("Session keep-alive (seconds)"),
        min_value=schema.BOUNDS["session_keep_alive_time_in_secs"][0],
        max_value=schema.BOUNDS["session_keep_alive_time_in_secs"][1],
        initial=60,
    )

    guarded_fields = MEETING_MODEL_FIELDS + tuple(
        spec.name for spec in CONFIG_FIELDS if spec.kind != "secret"
    )

    class Meta:
        model = Meeting
        fields = MEETING_MODEL_FIELDS
        widgets = {"title": forms.TextInput(attrs={"class": "vTextField"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_adding:
            # The API sets the status on create (a PATCH alone changes it); nothing was seen yet.
            for name in ("status", "seen_version"):
                self.fields.pop(name, None)
            return
        for spec in CONFIG_FIELDS:
            if spec.name in self.fields:
                stored = _get_path(getattr(self.instance, spec.root), spec.path.split(".", 1)[1])
                self.initial.setdefault(spec.name, _initial_value(spec, stored))
        self.guard_what_was_seen()

    @property
    def is_adding(self) -> bool:
        return self.instance.pk is None

    @sensitive_variables()
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

    @sensitive_variables()
    def changes(self) -> dict:
        """What the PATCH carries: the top-level fields this editor changed, and each config
        object with a changed field (sent whole, since the API replaces a top-level object:
        the stored object with this editor's edits applied)."""
        data = self.cleaned_data
        edited = set(self.edited_fields())
        changes: dict[str, Any] = {}
        for name in MEETING_MODEL_FIELDS:
            if name in edited:
                value = data[name]
                changes[name] = "" if name == "title" and value is None else value
        for root in ("ai_config", "recording_config"):
            edits = {
                spec: data.get(spec.name)
                for spec in CONFIG_FIELDS
                if spec.root == root and spec.name in edited
            }
            if edits:
                changes[root] = apply_config_edits(getattr(self.instance, root), edits)
        return changes

    @sensitive_variables()
    def save(self, commit: bool = True) -> Meeting:
        """The remote write (``services.create_meeting`` or ``update_meeting``); the instance is
        then reloaded from the row the service stored. ``commit=False`` is Django's: the
        instance, unsaved, and nothing sent."""
        if not commit:
            return super().save(commit=False)
        if self.errors:
            raise ValueError("MeetingForm.save() called on a form that did not validate")
        if self.is_adding:
            self.instance.pk = services.create_meeting(**self.create_payload()).pk
        else:
            services.update_meeting(self.instance, **self.changes())
        self.instance.refresh_from_db()
        return self.instance


# -- participants -------------------------------------------------------------------------------


class UserAutocomplete(AutocompleteSelect):
    """Django's autocomplete, re-rendering a refused form without looking up a posted value that
    is no user id at all (``AutocompleteSelect`` would query it and fail with a 500)."""

    def optgroups(self, name, value, attr=None):
        target = self.field.remote_field.model._meta.get_field(self.field.remote_field.field_name)

        def storable(candidate) -> bool:
            try:
                target.to_python(candidate)
            except DjangoValidationError:
                return False
            return True

        return super().optgroups(name, [v for v in value if storable(v)], attr)


def user_widget(admin_site) -> forms.Widget:
    """Choose the site user by autocomplete (a search box, whatever the number of users) when
    the user model's admin can search; otherwise by the raw id box, which always works."""
    field = Participant._meta.get_field("user")
    if user_admin_searches(admin_site):
        return UserAutocomplete(field, admin_site)
    return ForeignKeyRawIdWidget(field.remote_field, admin_site)


def user_admin_searches(admin_site) -> bool:
    """Whether the user model's admin is registered with search fields (autocomplete needs both).

    ``AdminSite.get_model_admin`` is Django 5.0+; on 4.2 a registered user admin is taken to
    search (Django's ``UserAdmin`` and its subclasses do).
    """
    user_model = get_user_model()
    if not admin_site.is_registered(user_model):
        return False
    get_model_admin = getattr(admin_site, "get_model_admin", None)
    return get_model_admin is None or bool(get_model_admin(user_model).search_fields)


def preset_field(*, current: str | None = None, **kwargs: Any) -> forms.Field:
    """The app's presets to choose from (the presets walk's mirror), or free text before the
    first walk has mirrored any. A name the app does not have is a form error, so nothing is
    sent; ``current`` (a participant's preset the app no longer has) stays choosable, so the
    form can still be saved without changing it."""
    known = services.known_preset_names()
    if not known:
        return forms.CharField(max_length=255, **kwargs)
    choices = [(name, name) for name in known]
    if current and current not in known:
        choices.append((current, _("%(name)s (not a preset of this app any more)") % {"name": current}))
    return forms.ChoiceField(
        choices=choices,
        error_messages={
            "invalid_choice": _("%(value)s is not a preset of this app (known: %(known)s).")
            % {"value": "%(value)s", "known": ", ".join(known)}
        },
        **kwargs,
    )


class AddParticipantForm(forms.Form):
    """Who to add to a meeting: a custom participant id, or a site user (or both)."""

    custom_participant_id = forms.CharField(
        label=_("Custom participant id"),
        required=False,
        max_length=255,
        help_text=_("Your own stable id for the person. Leave blank to derive it from the site user."),
    )
    user = forms.ModelChoiceField(label=_("Site user"), queryset=None, required=False)
    preset_name = forms.CharField(label=_("Preset"), max_length=255)  # see __init__
    name = forms.CharField(label=_("Display name"), required=False, max_length=schema.MAX_STRING_LENGTH)
    picture = url_field(label=_("Picture URL"), required=False, max_length=2048)

    def __init__(self, *args: Any, meeting: Meeting, admin_site=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meeting = meeting
        self.fields["user"].queryset = get_user_model()._default_manager.all()
        if admin_site is not None:
            self.fields["user"].widget = user_widget(admin_site)
            self.fields["user"].widget.choices = self.fields["user"].choices
        config = get_settings()
        self.fields["preset_name"] = preset_field(label=_("Preset"), initial=config.default_preset)
        if isinstance(self.fields["preset_name"], forms.CharField):
            self.fields["preset_name"].help_text = _(
                "For example %(default)s or %(host)s (the list of this app's presets appears "
                "once a sync has mirrored them)."
            ) % {"default": config.default_preset, "host": config.host_preset}

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


class ParticipantForm(SeenValuesForm, forms.ModelForm):
    """Change a participant's name, picture or preset with a PATCH (the token it returns is dropped)."""

    guarded_fields = ("name", "picture", "preset_name")

    picture = url_field(label=_("Picture"), required=False, max_length=2048)

    class Meta:
        model = Participant
        fields = ("name", "picture", "preset_name")
        # The model's TextField mirrors the API's unbounded string; a name is one line.
        widgets = {"name": forms.TextInput(attrs={"class": "vTextField"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "preset_name" in self.fields:
            self.fields["preset_name"] = preset_field(
                current=self.instance.preset_name, label=self.fields["preset_name"].label
            )
        self.guard_what_was_seen()

    @sensitive_variables()
    def save(self, commit: bool = True) -> Participant:
        """The remote write (``services.edit_participant``); see :meth:`MeetingForm.save`."""
        if not commit:
            return super().save(commit=False)
        if self.errors:
            raise ValueError("ParticipantForm.save() called on a form that did not validate")
        changes = {name: self.cleaned_data[name] for name in self.edited_fields()}
        services.edit_participant(self.instance, **changes)
        self.instance.refresh_from_db()
        return self.instance


__all__ = [
    "AI_FIELDS",
    "CONFIG_FIELDS",
    "MEETING_MODEL_FIELDS",
    "RECORDING_FIELDS",
    "SECRET_FIELD_NAMES",
    "STORAGE_FIELDS",
    "AddParticipantForm",
    "MeetingForm",
    "ParticipantForm",
    "SeenValuesForm",
    "apply_config_edits",
    "build_configs",
    "preset_field",
    "row_version",
]

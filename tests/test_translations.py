"""The German catalogue ships compiled, and the admin and the join API speak it."""

import ast
import gettext
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

import realtimekit_django
from realtimekit_django import services

LOCALE = Path(realtimekit_django.__file__).parent / "locale"


def po_messages(path: Path) -> dict[str, str]:
    """msgid -> msgstr (the first form for plurals) of a .po file, read plainly."""
    found: dict[str, str] = {}
    key = current = None
    parts: dict[str, list[str]] = {}
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith(("msgid ", "msgid_plural ", "msgstr ", "msgstr[0] ", "msgstr[1] ")):
            current, _, literal = line.partition(" ")
            parts[current] = [ast.literal_eval(literal)]
        elif line.startswith('"') and current:
            parts[current].append(ast.literal_eval(line))
        elif not line.strip() and parts:
            key = "".join(parts.get("msgid", []))
            if key:
                found[key] = "".join(parts.get("msgstr", parts.get("msgstr[0]", [])))
            parts, current = {}, None
    return found


def test_the_german_catalogue_is_complete_and_its_compiled_copy_current():
    messages = po_messages(LOCALE / "de/LC_MESSAGES/django.po")
    assert len(messages) > 100
    assert all(messages.values()), [k for k, v in messages.items() if not v]
    with open(LOCALE / "de/LC_MESSAGES/django.mo", "rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    stale = [msgid for msgid, msgstr in messages.items() if catalogue.gettext(msgid) != msgstr]
    assert stale == []


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="de")
def test_an_admin_action_message_is_in_german(admin_client, realtimekit_emulator):
    meeting = services.set_meeting_status(services.create_meeting(title="Standup"), "INACTIVE")
    response = admin_client.post(
        reverse("admin:realtimekit_meeting_changelist"),
        {"action": "activate", "_selected_action": [str(meeting.pk)]},
        follow=True,
    )
    texts = [str(message) for message in response.context["messages"]]
    assert texts == ["Aktivieren: 1 erfolgreich (Standup)."]


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="de")
def test_a_join_error_is_in_german(client, django_user_model, realtimekit_emulator):
    meeting = services.set_meeting_status(services.create_meeting(title="Standup"), "INACTIVE")
    client.force_login(django_user_model.objects.create_user("ann", password="pw"))
    inactive = client.post(reverse("realtimekit:meeting-join", args=[meeting.pk]))
    unknown = client.post(reverse("realtimekit:meeting-join", args=["00000000-0000-4000-8000-000000000000"]))
    assert inactive.status_code == 409
    assert inactive.json()["detail"] == (
        "Dieses Meeting ist inaktiv: Niemand kann beitreten, bis es wieder aktiviert wird."
    )
    assert unknown.status_code == 404 and unknown.json()["detail"] == "Dieses Meeting gibt es nicht."


def test_the_inline_title_follows_the_active_language():
    from realtimekit_django.admin.meetings import ParticipantInline

    with translation.override("de"):
        assert str(ParticipantInline.verbose_name_plural).startswith("Teilnehmer (die neuesten 20")
    with translation.override("en"):
        assert str(ParticipantInline.verbose_name_plural).startswith("participants (the newest 20")

"""The demo's join now happens in the package's room: ``room.js``, run by Node.js against the
room page as the demo renders it on the emulator (its data attributes) and a scripted ``fetch``.
A 503 is retried after its Retry-After plus jitter and the module gives up after a bounded number
of tries; once joined on the emulator it says video needs the real API and polls who is in,
backing off when that fails.

Marked ``browser`` with the other tests that need a JavaScript engine outside Python.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from realtimekit_django import conf, services

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

MODULE = Path(__file__).resolve().parent.parent / "realtimekit_django/static/realtimekit/room.js"

# A DOM just big enough for room.js: the room element with the page's data attributes.
HARNESS = r"""
const dataset = %(dataset)s;
const answers = %(answers)s;
const fetched = [];
const timers = [];
let pending = 0;
Math.random = () => 0.5;
class Element {
  constructor(tag) {
    Object.assign(this, { tag, children: [], dataset: {}, textContent: "", hidden: false });
  }
  replaceChildren(...children) { this.children = children; }
  appendChild(child) { this.children.push(child); }
  addEventListener() {}
  dispatchEvent() {}
  remove() {}
  text() { return [this.textContent, ...this.children.map((c) => c.text())].filter(Boolean).join(" | "); }
}
const parts = {};
const root = new Element("section");
Object.assign(root.dataset, dataset);
root.querySelector = (selector) => (parts[selector] ||= new Element("div"));
const said = [];
global.document = {
  querySelector: (selector) => (selector.startsWith(".realtimekit-room") ? root : null),
  createElement: (tag) => new Element(tag),
  head: new Element("head"),
};
global.CustomEvent = class { constructor(name) { this.name = name; } };
global.customElements = { get: () => undefined };
global.window = {};
global.setTimeout = (callback, ms) => {
  timers.push(ms);
  const status = parts[".realtimekit-room-status"];
  if (status) said.push(status.text());
  if (timers.length < 200 && fetched.length < answers.length) callback();
};
global.fetch = async (url, options) => {
  fetched.push([options && options.method || "GET", url]);
  const [status, retryAfter, body] = answers[Math.min(fetched.length - 1, answers.length - 1)];
  return {
    status, ok: status >= 200 && status < 300,
    headers: { get: (name) => (name === "Retry-After" ? retryAfter : null) },
    json: async () => body,
  };
};
await import(%(module)s);
await new Promise((resolve) => {
  const wait = () => (pending++ > 50 ? resolve() : Promise.resolve().then(wait));
  wait();
});
console.log(JSON.stringify({
  fetched, timers, said, outcome: root.dataset.outcome || "",
  status: parts[".realtimekit-room-status"].text(),
  present: (parts[".realtimekit-room-present"] || new Element("x")).text(),
}));
"""


@pytest.fixture
def room_data(realtimekit_emulator, settings) -> dict:
    """The room element's data attributes, rendered as the demo renders them (ROOM_EMULATOR)."""
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_EMULATOR": True}
    conf.clear_cache()
    meeting = services.create_meeting(title="Standup")
    client = Client()
    client.force_login(get_user_model().objects.create_user("alice", password="pw"))
    page = client.get(reverse("realtimekit:meeting-room", args=[meeting.pk])).content.decode()
    conf.clear_cache()
    section = re.search(r'<section class="realtimekit-room"(.*?)>', page, re.S).group(1)
    found = {name: html.unescape(value) for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', section)}
    return {re.sub(r"-([a-z])", lambda m: m.group(1).upper(), name): value for name, value in found.items()}


def _run(dataset: dict, answers: list) -> dict:
    node = shutil.which("node")
    assert node, "Node.js is needed (apt-get install nodejs)"
    source = HARNESS % {
        "dataset": json.dumps(dataset),
        "answers": json.dumps(answers),
        "module": json.dumps(MODULE.as_uri()),
    }
    done = subprocess.run(
        [node, "--input-type=module", "-e", source], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


JOINED = [200, None, {"token": "secret-token", "participant_id": "p1"}]


def test_a_503_is_retried_after_retry_after_plus_jitter_then_the_emulator_note(room_data):
    outcome = _run(room_data, [[503, "7", {}], [503, "7", {}], JOINED, [200, None, {"present": ["Bob"]}]])
    joins = [call for call in outcome["fetched"] if call[0] == "POST"]
    assert joins == [["POST", room_data["joinUrl"]]] * 3
    assert outcome["timers"][:12] == [1000] * 11 + [1000]  # 7 s + 3.5 s jitter: 11 s counted down
    assert any("trying again in 11 s (attempt 2 of 5)" in line for line in outcome["said"])
    assert outcome["outcome"] == "emulator"
    assert "video and audio need the real RealtimeKit API" in outcome["status"]
    assert ["GET", room_data["presentUrl"]] in outcome["fetched"]
    assert "Bob" in outcome["present"] and "secret-token" not in json.dumps(outcome)


def test_the_room_gives_up_after_the_bounded_tries(room_data):
    outcome = _run(room_data, [[503, None, {}]] * 5 + [[503, None, {}]])
    joins = [call for call in outcome["fetched"] if call[0] == "POST"]
    assert len(joins) == int(room_data["maxAttempts"]) == 5
    assert outcome["outcome"] == "gave_up"
    assert not any(call[0] == "GET" for call in outcome["fetched"])  # nobody is listed before a join


def test_presence_failures_back_off_and_say_so(room_data):
    outcome = _run(room_data, [JOINED, [500, None, {}], [500, None, {}], [200, None, {"present": []}]])
    polls = [ms for ms in outcome["timers"] if ms != 1000]
    assert polls[:3] == [6000, 12000, 3000]  # 3 s doubled per failure, then the usual 3 s again
    assert "Nobody is in the meeting right now." in outcome["present"]


def test_other_join_failures_are_not_retried(room_data):
    outcome = _run(room_data, [[502, None, {}], JOINED])
    assert outcome["fetched"] == [["POST", room_data["joinUrl"]]] and outcome["outcome"] == "failed"

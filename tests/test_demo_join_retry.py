"""The demo's join page retries a 503 after its Retry-After plus jitter, and gives up after a few
tries: the page's own retry functions, run by Node.js against a scripted ``fetch``.

Marked ``browser`` with the other tests that need a JavaScript engine outside Python.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

PAGE = Path(__file__).resolve().parent.parent / "example_project/demo_site/templates/demo_site/meetings.html"

HARNESS = """
const answers = %(answers)s;
const sleeps = [];
const shown = [];
const fetched = [];
Math.random = () => 0.5;
global.setTimeout = (resolve, ms) => { sleeps.push(ms); resolve(); };
function show(lines) { shown.push(lines.join(" ")); }
const csrfToken = "csrf";
global.fetch = async (url) => {
  fetched.push(url);
  const [status, retryAfter] = answers[Math.min(fetched.length - 1, answers.length - 1)];
  return { status, headers: { get: (name) => (name === "Retry-After" ? retryAfter : null) } };
};
%(functions)s
postJoin({ dataset: { url: "/join/" } }).then((response) => {
  console.log(JSON.stringify({ status: response.status, sleeps, calls: fetched.length, shown }));
});
"""


def _retry_functions() -> str:
    script = PAGE.read_text()
    match = re.search(r"(const MAX_ATTEMPTS.*?)\n  async function join\(", script, re.S)
    assert match, "the join page has no retry functions"
    return match.group(1)


def _run(answers: list) -> dict:
    node = shutil.which("node")
    assert node, "Node.js is needed (apt-get install nodejs)"
    source = HARNESS % {"answers": json.dumps(answers), "functions": _retry_functions()}
    done = subprocess.run([node, "-e", source], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_503_is_retried_after_retry_after_plus_jitter():
    outcome = _run([[503, "7"], [503, "7"], [200, None]])
    assert outcome["status"] == 200 and outcome["calls"] == 3
    assert outcome["sleeps"] == [10500, 10500]  # 7 s + half of min(7, 30) s of jitter
    assert "trying again in 11 s" in outcome["shown"][0]


def test_without_retry_after_the_wait_doubles_and_the_page_gives_up_after_five_tries():
    outcome = _run([[503, None]])
    assert outcome["status"] == 503 and outcome["calls"] == 5
    assert outcome["sleeps"] == [3000, 6000, 12000, 24000]  # 2**n s + half of it as jitter


def test_other_failures_are_not_retried():
    outcome = _run([[502, None]])
    assert (outcome["status"], outcome["calls"], outcome["sleeps"]) == (502, 1, [])

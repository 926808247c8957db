// The meeting room's one module (docs/room.md). It POSTs to the join endpoint with the session
// cookie and the CSRF token, hands the token to RealtimeKitClient.init in memory only (never the
// DOM, the URL, storage or a log), and mounts <rtk-meeting>. No inline script is needed: every
// setting and sentence comes from the room element's data attributes. On the emulator
// (data-emulator="true": no media server) it joins, says that video needs the real API, and polls
// the meeting-present endpoint to list who is in, instead of loading the kit.
const root = document.querySelector(".realtimekit-room[data-state]");
const data = root ? root.dataset : {};
const text = data.messages ? JSON.parse(data.messages) : {};
const status = root && root.querySelector(".realtimekit-room-status");
const actions = root && root.querySelector(".realtimekit-room-actions");
const stage = root && root.querySelector(".realtimekit-room-stage");
const JITTER_MAX_SECONDS = 30;
const PRESENT_EVERY_SECONDS = 3;
const PRESENT_BACKOFF_MAX_SECONDS = 60;
const nonce = (document.querySelector("script[data-realtimekit-room]") || {}).nonce || "";

function say(sentence, kind) {
  const p = document.createElement("p");
  p.textContent = sentence;
  status.replaceChildren(p);
  root.dataset.outcome = kind || "";
}

function offer(label, act) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.addEventListener("click", () => { actions.replaceChildren(); act(); });
  actions.replaceChildren(button);
  return button;
}

function backLink() {
  const link = document.createElement("a");
  link.href = data.backUrl || "/";
  link.textContent = text.back;
  actions.replaceChildren(link);
}

export function retryDelaySeconds(retryAfter, attempt, random = Math.random) {
  const asked = Number(retryAfter);
  const wait = Number.isFinite(asked) && asked > 0 ? asked : Math.min(60, 2 ** attempt);
  return wait + random() * Math.min(wait, JITTER_MAX_SECONDS);
}

function countdown(seconds, attempt, attempts) {
  return new Promise((resolve) => {
    let left = Math.ceil(seconds);
    const tick = () => {
      say(text.busy.replace("{seconds}", left).replace("{attempt}", attempt + 1).replace("{attempts}", attempts), "waiting");
      if (left-- <= 0) return resolve();
      setTimeout(tick, 1000);
    };
    tick();
  });
}

async function postJoin(refresh) {
  const attempts = Number(data.maxAttempts) || 5;
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(data.joinUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": data.csrfToken, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh: Boolean(refresh) }),
    });
    if (![503, 429].includes(response.status)) return response;
    if (attempt >= attempts) return response;
    await countdown(retryDelaySeconds(response.headers.get("Retry-After"), attempt), attempt, attempts);
  }
}

function loadScript(src, integrity) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    if (integrity) script.integrity = integrity;
    script.crossOrigin = "anonymous";
    if (nonce) script.nonce = nonce;
    script.dataset.realtimekitKit = "";
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => { script.remove(); reject(new Error("kit")); });
    document.head.appendChild(script);
  });
}

async function loadKit() {
  if (!window.RealtimeKitClient) await loadScript(data.kitClientSrc, data.kitClientIntegrity);
  if (!customElements.get("rtk-meeting")) {
    if (!window.RtkUiKit) await loadScript(data.kitUiSrc, data.kitUiIntegrity);
    await window.RtkUiKit.defineCustomElements();
  }
}

const REFUSALS = { 401: "signed_out", 403: "refused", 404: "missing", 409: "inactive" };

async function token(refresh) {
  const response = await postJoin(refresh);
  if (response.ok) return (await response.json()).token;
  const key = REFUSALS[response.status] || ([503, 429].includes(response.status) ? "gave_up" : "failed");
  say(text[key], key);
  if (REFUSALS[response.status]) backLink(); else offer(text.retry, start);
  return null;
}

function follow(meeting) {
  meeting.self.on("roomLeft", ({ state }) => {
    stage.replaceChildren();
    if (state === "ended") { say(text.ended, "ended"); backLink(); }
    else if (state === "kicked") { say(text.removed, "removed"); backLink(); }
    else if (state === "left") { window.location.assign(data.backUrl || "/"); }
    else { say(text.disconnected, "disconnected"); offer(text.rejoin, start); }
  });
}

// Who is in now, every few seconds; after a failure, wait twice as long each time (at most a
// minute), saying so, and go back to the usual pace once an answer comes.
export function presentDelaySeconds(failures) {
  if (!failures) return PRESENT_EVERY_SECONDS;
  return Math.min(PRESENT_BACKOFF_MAX_SECONDS, PRESENT_EVERY_SECONDS * 2 ** failures);
}

function showPresent(list, names) {
  const title = document.createElement("h3");
  title.textContent = text.present_title;
  const body = names.length ? document.createElement("ul") : document.createElement("p");
  if (names.length) {
    body.replaceChildren(...names.map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      return item;
    }));
  } else {
    body.textContent = text.nobody_in;
  }
  list.replaceChildren(title, body);
  list.hidden = false;
}

function pollPresent(failures = 0) {
  const list = root.querySelector(".realtimekit-room-present");
  fetch(data.presentUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
    .then((answer) => { showPresent(list, Array.isArray(answer.present) ? answer.present : []); return 0; })
    .catch(() => {
      const wait = presentDelaySeconds(failures + 1);
      const p = document.createElement("p");
      p.textContent = text.present_failed.replace("{seconds}", wait);
      list.replaceChildren(p);
      list.hidden = false;
      return failures + 1;
    })
    .then((next) => {
      root.dataset.presentPolls = String(Number(root.dataset.presentPolls || 0) + 1);
      setTimeout(() => pollPresent(next), presentDelaySeconds(next) * 1000);
    });
}

async function startOnEmulator() {
  if (!(await token(false))) return;  // the join happens as anywhere else; the token is dropped
  say(text.emulator_note, "emulator");
  root.dispatchEvent(new CustomEvent("realtimekit:joined"));
  if (data.presentUrl) pollPresent();
}

async function start() {
  say(text.joining, "joining");
  if (data.emulator === "true") return startOnEmulator();
  if (data.loadKit === "true") {
    try { await loadKit(); } catch (error) {
      say(text.kit_failed, "kit-failed");
      offer(text.retry, start);
      return;
    }
  }
  let authToken = await token(false);
  if (!authToken) return;
  if (data.loadKit !== "true") { say(text.joined_without_kit, "joined"); root.dispatchEvent(new CustomEvent("realtimekit:joined")); return; }
  const defaults = JSON.parse(data.defaults || "{}");
  let meeting;
  try {
    meeting = await window.RealtimeKitClient.init({ authToken, defaults });
  } catch (refused) {
    // The kit refused the token (a kept one RealtimeKit revoked): ask once for a fresh one.
    authToken = await token(true);
    if (!authToken) return;
    try { meeting = await window.RealtimeKitClient.init({ authToken, defaults }); } catch (again) {
      say(text.token_refused, "token-refused");
      offer(text.retry, start);
      return;
    }
  }
  authToken = null;
  const ui = document.createElement("rtk-meeting");
  ui.meeting = meeting;
  stage.replaceChildren(ui);
  status.replaceChildren();
  root.dataset.outcome = "mounted";
  follow(meeting);
}

if (root && data.state === "ready" && data.joinUrl) start();

// The facerec demo page: plain JavaScript over the JSON API, no build step.
"use strict";

const $ = (id) => document.getElementById(id);

// POST/GET/DELETE to the API; resolves to the JSON body, or throws an Error carrying the
// API's {"error": {"code", "message"}}. The key, when one is typed, goes with every request:
// writes always need it, and reads too on a service that listens beyond its machine.
async function api(method, path, body) {
  const headers = {};
  const key = $("api-key").value.trim();
  if (key) headers["X-API-Key"] = key;
  const resp = await fetch(path, { method, body, headers });
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    const err = (data && data.error) || { code: "http_" + resp.status, message: resp.statusText };
    const e = new Error(err.message + " (" + err.code + ")");
    e.code = err.code;
    throw e;
  }
  return data;
}

function showError(id, err) {
  const el = $(id);
  el.textContent = err ? String(err.message || err) : "";
  el.hidden = !err;
}

async function busy(button, fn) {
  button.disabled = true;
  try { await fn(); } finally { button.disabled = false; }
}

function galleryPath(suffix) {
  const name = $("gallery-name").value.trim();
  return "/v1/galleries/" + encodeURIComponent(name) + suffix;
}

function preview(input, img) {
  input.addEventListener("change", () => {
    if (img.src) URL.revokeObjectURL(img.src);
    if (input.files.length) img.src = URL.createObjectURL(input.files[0]);
    else img.removeAttribute("src");
  });
}

// -- health -------------------------------------------------------------------------------
async function loadHealth() {
  try {
    const h = await api("GET", "/healthz");
    const thr = h.threshold === null ? "none" : h.threshold.toFixed(3);
    $("health").textContent = "model " + (h.model ? h.model + " (" + h.model_id + ")" : h.model_id) +
      " · threshold " + thr + " · " +
      h.galleries.length + " galler" + (h.galleries.length === 1 ? "y" : "ies") +
      (h.auth ? (h.reads_need_key ? " · every request needs an API key" : "") : " · auth off");
    $("api-key").placeholder = h.reads_need_key ? "needed for every request" : "needed to enroll / remove";
    if (h.galleries.length && !h.galleries.includes($("gallery-name").value)) $("gallery-name").value = h.galleries[0];
  } catch (e) {
    $("health").textContent = "service unreachable: " + e.message;
  }
}

// -- verify -------------------------------------------------------------------------------
async function runVerify() {
  const a = $("verify-a").files[0], b = $("verify-b").files[0];
  const result = $("verify-result");
  showError("verify-error", null);
  if (!a || !b) { showError("verify-error", "choose two photos"); return; }
  result.dataset.state = "running";
  const form = new FormData();
  form.append("image_a", a);
  form.append("image_b", b);
  try {
    const r = await api("POST", "/v1/verify?crops=true", form);
    const verdict = $("verify-verdict");
    verdict.textContent = r.same ? "SAME person" : "DIFFERENT people";
    verdict.dataset.same = String(r.same);
    $("verify-score").textContent = "score " + r.score.toFixed(4) + " (threshold " + r.threshold.toFixed(4) + ")";
    $("verify-crop-a").src = "data:image/png;base64," + r.crops.a;
    $("verify-crop-b").src = "data:image/png;base64," + r.crops.b;
    result.hidden = false;
    result.dataset.state = "done";
  } catch (e) {
    result.hidden = true;
    result.dataset.state = "error";
    showError("verify-error", e);
  }
}

// -- gallery ------------------------------------------------------------------------------
async function listPeople() {
  const list = $("gallery-list");
  list.replaceChildren();
  showError("enroll-error", null);
  try {
    const g = await api("GET", galleryPath("/identities"));
    for (const p of g.people) {
      const li = document.createElement("li");
      li.textContent = p.name + " (" + p.num_templates + ")";
      list.appendChild(li);
    }
    if (!g.people.length) list.textContent = "(empty)";
  } catch (e) {
    list.textContent = e.code === "not_found" ? "(no such gallery yet: enroll someone)" : e.message;
  }
}

async function runEnroll() {
  const name = $("enroll-name").value;
  const files = $("enroll-files").files;
  const out = $("enroll-result");
  showError("enroll-error", null);
  out.textContent = "";
  if (!name.trim() || !files.length) { showError("enroll-error", "give a name and at least one photo"); return; }
  out.dataset.state = "running";
  const form = new FormData();
  for (const f of files) form.append("images", f);
  try {
    const r = await api("POST", galleryPath("/identities/" + encodeURIComponent(name)), form);
    out.textContent = "enrolled " + name + ": " + r.templates + " photo(s); the gallery holds " + r.identities + " people";
    out.dataset.state = "done";
    listPeople();
    loadHealth();
  } catch (e) {
    out.dataset.state = "error";
    showError("enroll-error", e);
  }
}

// Draws the photo with every face's box and its label (identity or "unknown").
function drawFaces(file, faces) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = $("search-canvas");
      // Small photos (LFW: 250 px) are enlarged up to 2×, large ones shrunk to 640 px wide.
      const scale = Math.min(2, 640 / img.naturalWidth);
      canvas.width = Math.round(img.naturalWidth * scale);
      canvas.height = Math.round(img.naturalHeight * scale);
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      ctx.lineWidth = Math.max(2, canvas.width / 200);
      ctx.font = Math.max(12, Math.round(canvas.width / 30)) + "px system-ui, sans-serif";
      faces.forEach((f, i) => {
        const [x1, y1, x2, y2] = f.detection.box.map((v) => v * scale);
        const known = f.identity !== null;
        ctx.strokeStyle = ctx.fillStyle = known ? "#22c55e" : "#f59e0b";
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        ctx.fillText((i + 1) + ". " + (known ? f.identity : "unknown"), x1, Math.max(12, y1 - 4));
      });
      URL.revokeObjectURL(img.src);
      resolve();
    };
    img.onerror = () => reject(new Error("the browser cannot show this image"));
    img.src = URL.createObjectURL(file);
  });
}

async function runSearch() {
  const file = $("search-file").files[0];
  const result = $("search-result");
  showError("search-error", null);
  if (!file) { showError("search-error", "choose a photo"); return; }
  result.dataset.state = "running";
  const form = new FormData();
  form.append("image", file);
  const k = Math.max(1, parseInt($("search-k").value, 10) || 3);
  try {
    const r = await api("POST", galleryPath("/search?k=" + k), form);
    const list = $("search-faces");
    list.replaceChildren();
    for (const f of r.faces) {
      const li = document.createElement("li");
      const head = document.createElement("strong");
      head.textContent = f.identity !== null ? f.identity : "unknown";
      if (f.identity === null) head.className = "unknown";
      li.appendChild(head);
      const ranked = f.matches.map((m) => m.identity + " " + m.score.toFixed(3)).join(", ");
      li.appendChild(document.createTextNode(" — " + (ranked || "empty gallery")));
      list.appendChild(li);
    }
    if (!r.faces.length) list.textContent = "no face found";
    await drawFaces(file, r.faces);
    result.hidden = false;
    result.dataset.state = "done";
  } catch (e) {
    result.dataset.state = "error";
    showError("search-error", e);
  }
}

preview($("verify-a"), $("verify-preview-a"));
preview($("verify-b"), $("verify-preview-b"));
$("verify-run").addEventListener("click", (ev) => busy(ev.target, runVerify));
$("enroll-run").addEventListener("click", (ev) => busy(ev.target, runEnroll));
$("search-run").addEventListener("click", (ev) => busy(ev.target, runSearch));
$("gallery-refresh").addEventListener("click", (ev) => busy(ev.target, listPeople));
$("api-key").value = sessionStorage.getItem("facerec-api-key") || "";
$("api-key").addEventListener("change", () => sessionStorage.setItem("facerec-api-key", $("api-key").value));
loadHealth();

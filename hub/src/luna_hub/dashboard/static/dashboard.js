// The admin dashboard: renders each server-sent snapshot; every value is set as text, never as markup.
"use strict";

const byId = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("luna_csrf="));
  return found ? decodeURIComponent(found.slice("luna_csrf=".length)) : "";
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  return td;
}

function fillTable(id, items, toCells, empty) {
  const body = byId(id).querySelector("tbody");
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    for (const td of toCells(item, tr)) tr.appendChild(td);
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(empty);
    td.colSpan = byId(id).querySelectorAll("thead th").length;
    tr.appendChild(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function since(iso) {
  return iso ? ago((Date.now() - Date.parse(iso)) / 1000) : "–";
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n, unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 86400) return `${(value / 86400).toFixed(1)} d`;
  if (value >= 3600) return `${(value / 3600).toFixed(1)} h`;
  if (value >= 60) return `${(value / 60).toFixed(1)} min`;
  return `${value.toFixed(2)} s`;
}

function chart(svg, points) {
  const now = Date.now();
  const shapes = [];
  const max = Math.max(1, ...points.map(([, n]) => n));
  const coords = points.map(([at, n]) => {
    const x = 300 - ((now - Date.parse(at)) / 3600000) * 300;
    const y = 58 - (n / max) * 54;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  if (coords.length) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coords.join(" "));
    shapes.push(line);
  }
  svg.replaceChildren(...shapes);
}

async function silence(alert) {
  const ends = new Date(Date.now() + 3600 * 1000).toISOString();
  const matchers = Object.entries(alert.labels).map(([name, value]) => ({name, value}));
  const answer = await fetch("/alerts/silences", {
    method: "POST",
    credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken()},
    body: JSON.stringify({matchers, ends_at: ends, comment: "silenced from the dashboard"}),
  });
  byId("silence-result").textContent = answer.ok
    ? `${alert.alertname} silenced for an hour`
    : `silencing failed (${await problemText(answer)})`;
}

async function problemText(answer) {
  const problem = await answer.json().catch(() => null);
  return problem && problem.detail ? `${answer.status}: ${problem.detail}` : String(answer.status);
}

async function sendTestNotification() {
  const out = byId("test-result");
  out.textContent = "sending…";
  const answer = await fetch("/alerts/test", {
    method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrfToken()},
  }).catch(() => null);
  if (!answer) { out.textContent = "test notification failed: the hub did not answer"; return; }
  if (!answer.ok) { out.textContent = `test notification failed (${await problemText(answer)})`; return; }
  const {results} = await answer.json();
  out.textContent = results.map((r) => `${r.channel} ${r.target}: ${r.delivered ? "delivered" : `not delivered (${r.error})`}`)
    .join("; ");
}

function render(s) {
  byId("generated-at").textContent = new Date(s.generated_at).toLocaleTimeString();
  byId("ingest-rate").textContent = s.ingest.readings_per_s.toFixed(1);
  byId("ingest-minute").textContent = s.ingest.readings_last_minute;
  byId("ingest-batches").textContent = s.ingest.batches_last_minute;
  byId("lag-p50").textContent = seconds(s.ingest.lag_p50_s);
  byId("lag-p95").textContent = seconds(s.ingest.lag_p95_s);
  chart(byId("ingest-chart"), s.ingest_history);
  for (const state of ["online", "stale", "offline", "never"]) {
    byId(`agents-${state}`).textContent = s.agents.filter((a) => a.state === state).length;
  }
  byId("alerts-firing").textContent = s.alerts.length;
  fillTable("components", s.components, (c, tr) => {
    tr.className = `status-${c.status.replace(" ", "-")}`;
    return [cell(c.name), cell(c.status), cell(c.latency_ms === null ? null : `${c.latency_ms} ms`, "num"), cell(c.detail)];
  }, "no components reported");
  fillTable("alerts", s.alerts, (a) => {
    const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(", ");
    const action = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Silence 1 h";
    button.addEventListener("click", () => silence(a));
    action.appendChild(button);
    return [cell(a.alertname), cell(labels), cell(since(a.starts_at)), action];
  }, "nothing firing");
  fillTable("agents", s.agents, (a, tr) => {
    tr.className = `agent-${a.state}`;
    tr.dataset.agent = a.agent_id;
    const today = a.completeness_today === null ? null : `${(a.completeness_today * 100).toFixed(1)} %`;
    const offset = a.clock_offset_ms === null ? null : `${a.clock_offset_ms} ms`;
    return [cell(a.agent_id), cell(a.site_id), cell(a.state, "state"), cell(ago(a.seconds_since)),
      cell(a.backlog, "num"), cell(offset, "num"), cell(a.version), cell(today, "num")];
  }, "no agents yet");
  fillTable("routes", s.routes, (r) => [cell(`${r.method} ${r.route}`), cell(r.requests, "num"),
    cell(r.p95_ms === null ? null : `${r.p95_ms.toFixed(1)} ms`, "num")], "no requests measured yet");
  fillTable("tables", s.tables, (t) => [cell(t.table), cell(bytes(t.bytes), "num"),
    cell(t.growth_bytes_per_h === null ? null : `${bytes(t.growth_bytes_per_h)}/h`, "num")], "–");
  fillTable("audit", s.audit, (e) => [cell(since(e.at)), cell(e.actor), cell(`${e.action} ${e.target}`)], "no entries");
  fillTable("jobs", s.jobs, (j) => [cell(j.document_id), cell(j.state), cell(j.error || j.stage),
    cell(j.finished_at ? since(j.finished_at) : `${Math.round(j.progress * 100)} %`)], "no jobs");
}

async function refreshSession() {
  const answer = await fetch("/auth/refresh", {
    method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrfToken()},
  });
  return answer.ok;
}

function connect() {
  const status = byId("connection");
  const source = new EventSource("/admin/stream");
  source.addEventListener("open", () => { status.textContent = "live"; status.className = "pill live"; });
  source.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
  source.addEventListener("error", async () => {
    source.close();
    status.textContent = "reconnecting…";
    status.className = "pill";
    const probe = await fetch("/admin/snapshot", {credentials: "same-origin"}).catch(() => null);
    if (probe && probe.status === 401 && !(await refreshSession())) { window.location.assign("/admin/login"); return; }
    setTimeout(connect, 2000);
  });
}

byId("send-test").addEventListener("click", sendTestNotification);
byId("sign-out").addEventListener("click", async () => {
  await fetch("/auth/logout", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrfToken()}});
  window.location.assign("/admin/login");
});
setInterval(refreshSession, 10 * 60 * 1000);  // the session lasts 15 min by default
connect();

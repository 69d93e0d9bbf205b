// Refreshes the harvester page from GET /api/v1/harvester every two
// seconds. Served from this host (CSP script-src 'self'); it writes text
// only, never HTML.
"use strict";
(function () {
  const root = document.getElementById("harvester-live");
  if (!root) return;
  const endpoint = root.dataset.endpoint;
  const field = (name) => document.querySelector('[data-field="' + name + '"]');
  const grouped = (n) => Number(n).toLocaleString("en-US");
  function cell(text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }
  function show(h) {
    const running = field("running");
    running.textContent = h.running ? "running" : "stopped";
    running.className = "pill " + (h.running ? "ok" : "warn");
    field("adapter").textContent = h.adapter.name ? h.adapter.name + " — " + h.adapter.state : "none";
    field("updated").textContent = new Date(h.now).toISOString().slice(11, 16);
    field("invalid_keys").textContent = grouped(h.invalid_keys);
    field("malformed_frames").textContent = grouped(h.malformed_frames);
    const body = field("kinds");
    const rows = h.kinds.map((k) => {
      const tr = document.createElement("tr");
      tr.append(cell(k.kind), cell(k.per_second.toFixed(1), true), cell(grouped(k.total), true));
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell("No frames yet.");
      td.colSpan = 3;
      td.className = "muted";
      tr.append(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }
  async function poll() {
    try {
      const r = await fetch(endpoint, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) show(await r.json());
    } catch (e) {
      // The node may be restarting; the next poll tries again.
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
})();

// vilvik-emulator dashboard: a little vanilla JavaScript, no dependencies.
"use strict";

// The entry the SDK (and the hosted website) detects: the last top-level def/class,
// or for gene_constraint the last top-level assignment.
function detectEntry(source, listRole) {
  let name = null;
  const pattern = listRole
    ? /^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)/gm
    : /^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)/gm;
  let match;
  while ((match = pattern.exec(source)) !== null) name = match[1] || match[2];
  return name;
}

document.querySelectorAll("textarea[data-entry-field]").forEach((area) => {
  const entry = document.getElementById(area.dataset.entryField);
  if (!entry) return;
  let edited = entry.value !== "" && entry.value !== detectEntry(area.value, area.dataset.listRole === "1");
  entry.addEventListener("input", () => { edited = entry.value !== ""; });
  const fill = () => {
    if (edited) return;
    entry.value = detectEntry(area.value, area.dataset.listRole === "1") || "";
  };
  area.addEventListener("input", fill);
  fill();
  // Tab indents instead of leaving the editor.
  area.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" || event.shiftKey) return;
    event.preventDefault();
    const start = area.selectionStart;
    area.setRangeText("    ", start, area.selectionEnd, "end");
    fill();
  });
});

// Show the fields of the chosen submission type only.
const typeSelect = document.getElementById("submission_type");
if (typeSelect) {
  const sync = () => {
    document.querySelectorAll("[data-for-type]").forEach((section) => {
      const shown = section.dataset.forType.split(" ").includes(typeSelect.value);
      section.hidden = !shown;
      section.querySelectorAll("input, select, textarea").forEach((input) => { input.disabled = !shown; });
    });
  };
  typeSelect.addEventListener("change", sync);
  sync();
}

// Confirm destructive actions.
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// Live status: poll while a submission is queued or running, then reload once.
const live = document.querySelector("[data-live-status]");
if (live) {
  const url = live.dataset.liveStatus;
  const badge = document.getElementById("status-badge");
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const best = document.getElementById("progress-best");
  const poll = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        const progress = data.progress || {};
        const done = progress.generations_completed || 0;
        const total = progress.num_generations || 0;
        if (bar) bar.style.width = (total ? Math.min(100, (100 * done) / total) : 0) + "%";
        if (text) text.textContent = `${done} / ${total} generations`;
        if (best) best.textContent = progress.best_fitness === null || progress.best_fitness === undefined ? "—" : progress.best_fitness;
        if (badge) { badge.textContent = data.status; badge.className = "badge " + data.status; }
        if (!["queued", "running"].includes(data.status)) { window.location.reload(); return; }
      }
    } catch (error) { /* the server may be restarting: try again */ }
    window.setTimeout(poll, 700);
  };
  window.setTimeout(poll, 500);
}

// Lists with running jobs refresh themselves.
const autoRefresh = document.querySelector("[data-auto-refresh]");
if (autoRefresh) window.setTimeout(() => window.location.reload(), Number(autoRefresh.dataset.autoRefresh));

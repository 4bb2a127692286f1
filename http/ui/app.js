// Tandem's web UI: small enhancements over server-rendered pages. Every
// page reads fine without this file.
"use strict";

// The catalog searches as you type: the server renders the results.
function catalogSearch() {
  const q = document.getElementById("catalog-q");
  const kind = document.getElementById("catalog-kind");
  const out = document.getElementById("catalog-results");
  if (!q || !out) return;
  let seq = 0;
  const run = async () => {
    const mine = ++seq;
    const params = new URLSearchParams({q: q.value, kind: kind.value, fragment: "1"});
    const started = performance.now();
    const resp = await fetch("/ui/catalog?" + params, {credentials: "same-origin"});
    const html = await resp.text();
    if (mine !== seq) return; // a newer search was sent meanwhile
    out.innerHTML = html;
    out.dataset.ms = (performance.now() - started).toFixed(1);
    out.dataset.q = q.value;
    history.replaceState(null, "", "/ui/catalog?" + new URLSearchParams({q: q.value, kind: kind.value}));
  };
  let timer;
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 60); });
  kind.addEventListener("change", run);
}

// The lineage graph pans (drag) and zooms (wheel) by moving the viewBox.
function lineageGraph() {
  const svg = document.getElementById("lineage");
  if (!svg) return;
  const full = {x: 0, y: 0, w: +svg.dataset.width, h: +svg.dataset.height};
  let vb = {...full};
  const apply = () => svg.setAttribute("viewBox", `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("height", Math.min(full.h, 640));
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const toGraph = (ev) => {
    const r = svg.getBoundingClientRect();
    const scale = Math.max(vb.w / r.width, vb.h / r.height);
    return {x: vb.x + (ev.clientX - r.left) * scale, y: vb.y + (ev.clientY - r.top) * scale, scale};
  };
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const p = toGraph(ev);
    const f = ev.deltaY < 0 ? 0.85 : 1 / 0.85;
    vb = {x: p.x - (p.x - vb.x) * f, y: p.y - (p.y - vb.y) * f, w: vb.w * f, h: vb.h * f};
    apply();
  }, {passive: false});
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => { drag = {x: ev.clientX, y: ev.clientY, vb: {...vb}, moved: false}; });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const scale = Math.max(vb.w / r.width, vb.h / r.height);
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    vb = {...vb, x: drag.vb.x - dx * scale, y: drag.vb.y - dy * scale};
    apply();
  });
  window.addEventListener("pointerup", () => { setTimeout(() => { drag = null; }, 0); });
  svg.addEventListener("click", (ev) => { if (drag && drag.moved) ev.preventDefault(); }, true);
  const fit = document.getElementById("lineage-fit");
  if (fit) fit.addEventListener("click", () => { vb = {...full}; apply(); });
  // Center on the focus node.
  const focus = svg.querySelector(".focus rect");
  if (focus && full.w > 1600) {
    const x = +focus.getAttribute("x"), y = +focus.getAttribute("y");
    vb = {x: Math.max(0, x - 700), y: Math.max(0, y - 300), w: 1600, h: Math.min(full.h, 700)};
    apply();
  }
}

// A running run's log follows live; the page reloads when the run ends.
function runLog() {
  const pre = document.getElementById("run-log");
  if (!pre || pre.dataset.ended === "true") return;
  let after = +pre.dataset.after;
  const poll = async () => {
    try {
      const resp = await fetch(`/api/v1/runs/${encodeURIComponent(pre.dataset.run)}/logs?after=${after}`, {credentials: "same-origin"});
      if (resp.ok) {
        const body = await resp.json();
        for (const l of body.lines || []) {
          pre.append(`${l.at.replace("T", " ").slice(0, 19)} ${l.level} ${l.node ? l.node + ": " : ""}${l.msg}\n`);
          after = l.n;
        }
        if (body.done) { location.reload(); return; }
      }
    } catch (e) { /* the server restarts: try again */ }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 500);
}

document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => { catalogSearch(); lineageGraph(); runLog(); });

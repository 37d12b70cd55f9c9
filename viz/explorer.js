// The explorer of an unrolled graph (viz.explore).  Inlined into the page: no library, no network.
//
// The picture is Graphviz's SVG.  Each <g class="node"> has a <title> with the id of a node of
// viz.graph's Graph (n3, s0, ...), each <g class="cluster"> the name of a frame, which the data
// maps to a scope path.  Collapsing a scope hides its nodes, draws one box in its place and
// reroutes the edges that crossed its border; the backward slider sets a class on every node.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("tgs-data").textContent);
  const SVGNS = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("tgs-svg");
  const root = svg.querySelector("g.graph") || svg;
  const info = document.getElementById("tgs-info");
  const slider = document.getElementById("tgs-slider");
  const label = document.getElementById("tgs-bw-label");
  const barsBox = document.getElementById("tgs-bars");

  // ------------------------------------------------------------------ reading the picture
  const nodeEl = {}, bbox = {}, clusterEl = {}, frameBox = {}, edges = [];
  const crossKey = {};
  for (const [s, d, cross] of D.edges) crossKey[s + ">" + d] = !!cross;
  const titleOf = (g) => { const t = g.querySelector(":scope > title"); return t ? t.textContent : ""; };
  const box = (el) => { const b = el.getBBox(); return { x: b.x, y: b.y, w: b.width, h: b.height }; };

  for (const g of root.querySelectorAll("g.node")) {
    const id = titleOf(g);
    if (!(id in D.nodes)) { g.classList.add("tgs-aux"); continue; }
    nodeEl[id] = g;
    bbox[id] = box(g);
    g.dataset.node = id;
    const n = D.nodes[id];
    g.querySelector(":scope > title").textContent = n.title + (n.op && n.op !== n.title ? " — " + n.op : "");
    if (n.kind === "detached") g.classList.add("tgs-cut");
  }
  const frameScope = {};
  for (const g of root.querySelectorAll("g.cluster")) {
    const name = titleOf(g);
    for (const [path, s] of Object.entries(D.scopes)) if (s.frame === name) frameScope[name] = path;
    if (!(name in frameScope)) continue;
    clusterEl[frameScope[name]] = g;
    frameBox[frameScope[name]] = box(g);
    g.dataset.scope = frameScope[name];
    g.querySelector(":scope > title").textContent = D.scopes[frameScope[name]].label + " — click to collapse";
  }
  for (const g of root.querySelectorAll("g.edge")) {
    const [a, b] = titleOf(g).split("->");
    if (a === undefined || b === undefined) continue;
    const src = a.split(":")[0], dst = b.split(":")[0];
    if (!(src in D.nodes) || !(dst in D.nodes)) continue;
    const path = g.querySelector("path");
    edges.push({ el: g, src, dst, cross: !!crossKey[src + ">" + dst], path,
                 width: path ? parseFloat(path.getAttribute("stroke-width") || "1") : 1 });
    g.querySelector(":scope > title").textContent = D.nodes[src].title + " → " + D.nodes[dst].title;
  }

  // the overlay: rerouted edges under the boxes of collapsed scopes, and the cut badges
  const defs = el("defs", {}, svg);
  for (const [id, color] of [["tgs-arrow", "#5F6B78"], ["tgs-arrow-cross", "#2E6DB4"], ["tgs-arrow-lit", "#C0392B"]]) {
    const m = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
                              orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: color }, m);
  }
  const overlay = el("g", { id: "tgs-overlay" }, root);
  const rerouted = el("g", { id: "tgs-rerouted" }, overlay);
  const boxes = el("g", { id: "tgs-boxes" }, overlay);
  const badges = el("g", { id: "tgs-badges" }, overlay);

  function el(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  // ------------------------------------------------------------------ scopes: collapse and expand
  const prefixes = {};
  for (const [id, n] of Object.entries(D.nodes)) {
    const parts = n.home ? n.home.split("/") : [];
    prefixes[id] = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  }
  const collapsed = new Set(D.collapsed.filter((p) => p in D.scopes));

  function rep(id) {  // the element that stands for a node: itself, or the box of its outermost collapsed scope
    for (const p of prefixes[id]) if (collapsed.has(p)) return "box:" + p;
    return id;
  }
  function outermost(path) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) if (collapsed.has(parts.slice(0, i).join("/"))) return false;
    return true;
  }
  function region(path) {  // where a scope is drawn: its frame, or around its nodes
    if (frameBox[path]) return frameBox[path];
    const bs = D.scopes[path].members.map((id) => bbox[id]).filter(Boolean);
    if (!bs.length) return null;
    const x0 = Math.min(...bs.map((b) => b.x)), y0 = Math.min(...bs.map((b) => b.y));
    const x1 = Math.max(...bs.map((b) => b.x + b.w)), y1 = Math.max(...bs.map((b) => b.y + b.h));
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  const boxGeom = {};
  function drawBox(path) {
    const r = region(path);
    if (!r) return null;
    const s = D.scopes[path];
    const small = s.members.length + " node" + (s.members.length === 1 ? "" : "s") + " · click to expand";
    const w = Math.max(96, 7.2 * Math.max(s.label.length, small.length * 0.72) + 24), h = 44;
    const cx = r.x + r.w / 2, cy = r.y + r.h / 2;
    const g = el("g", { class: "node tgs-box", "data-scope": path }, boxes);
    el("title", {}, g).textContent = path + " (collapsed)";
    el("rect", { x: cx - w / 2 + 4, y: cy - h / 2 - 4, width: w, height: h, class: "tgs-box-back" }, g);
    el("rect", { x: cx - w / 2, y: cy - h / 2, width: w, height: h, rx: 3, class: "tgs-box-front" }, g);
    el("text", { x: cx, y: cy - 3, "text-anchor": "middle", class: "tgs-box-title" }, g).textContent = s.label;
    el("text", { x: cx, y: cy + 12, "text-anchor": "middle", class: "tgs-box-small" }, g).textContent = small;
    boxGeom[path] = { x: cx - w / 2, y: cy - h / 2, w, h };
    return g;
  }
  function geom(r) { return r.startsWith("box:") ? boxGeom[r.slice(4)] : bbox[r]; }
  function border(b, toward) {  // where the line from the centre of b to `toward` leaves b
    const cx = b.x + b.w / 2, cy = b.y + b.h / 2, dx = toward.x - cx, dy = toward.y - cy;
    if (!dx && !dy) return { x: cx, y: cy };
    const s = Math.min(dx ? (b.w / 2) / Math.abs(dx) : Infinity, dy ? (b.h / 2) / Math.abs(dy) : Infinity);
    return { x: cx + dx * s, y: cy + dy * s };
  }
  const centre = (b) => ({ x: b.x + b.w / 2, y: b.y + b.h / 2 });

  let extraEdges = [];
  function layoutScopes() {
    boxes.replaceChildren();
    rerouted.replaceChildren();
    for (const k of Object.keys(boxGeom)) delete boxGeom[k];
    for (const [id, g] of Object.entries(nodeEl)) g.classList.toggle("tgs-hidden", rep(id) !== id);
    for (const [path, g] of Object.entries(clusterEl)) {
      const parts = path.split("/");
      const hidden = parts.some((_, i) => collapsed.has(parts.slice(0, i + 1).join("/")));
      g.classList.toggle("tgs-hidden", hidden);
    }
    for (const p of collapsed) if (outermost(p)) drawBox(p);
    const joined = new Map();
    for (const e of edges) {
      const rs = rep(e.src), rd = rep(e.dst);
      const original = rs === e.src && rd === e.dst;
      e.el.classList.toggle("tgs-hidden", !original);
      if (original || rs === rd || !geom(rs) || !geom(rd)) continue;
      const key = rs + "|" + rd;
      if (!joined.has(key)) joined.set(key, { rs, rd, cross: false, members: [] });
      const j = joined.get(key);
      j.cross = j.cross || e.cross;
      j.members.push(e);
    }
    extraEdges = [];
    for (const j of joined.values()) {
      const a = geom(j.rs), b = geom(j.rd);
      const p = border(a, centre(b)), q = border(b, centre(a));
      const line = el("path", { d: `M${p.x},${p.y} L${q.x},${q.y}`, class: "tgs-reroute" + (j.cross ? " tgs-cross" : ""),
                                "marker-end": j.cross ? "url(#tgs-arrow-cross)" : "url(#tgs-arrow)" }, rerouted);
      extraEdges.push({ line, members: j.members, cross: j.cross });
    }
    applyBackward();
    document.getElementById("tgs-title").dataset.visible = visibleNodeIds().length;
  }
  function collapse(path) { if (path in D.scopes) { collapsed.add(path); layoutScopes(); } }
  function expand(path) { collapsed.delete(path); layoutScopes(); }
  function visibleNodeIds() {
    const ids = Object.keys(nodeEl).filter((id) => rep(id) === id);
    return ids.concat([...boxes.querySelectorAll("g.tgs-box")].map((g) => "box:" + g.dataset.scope));
  }

  // ------------------------------------------------------------------ the backward pass
  const N = D.schedule.length;
  slider.max = String(N);
  if (!N) for (const b of document.querySelectorAll("#tgs-backward button, #tgs-backward input")) b.disabled = true;
  let position = null;  // null: the forward view; 0: at the loss; k: the first k steps of the schedule done
  const stateOf = (n) => position === null ? "" : n.done <= position ? "reached" : n.first <= position ? "partial" : "pending";
  const gradNorms = Object.values(D.nodes).map((n) => (n.grad && typeof n.grad.norm === "number" ? n.grad.norm : 0));
  const topNorm = Math.max(0, ...gradNorms);

  function applyBackward() {
    const states = {};
    for (const [id, n] of Object.entries(D.nodes)) {
      const s = stateOf(n);
      states[id] = s;
      const g = nodeEl[id];
      if (!g) continue;
      g.classList.remove("tgs-reached", "tgs-partial", "tgs-pending");
      if (s) g.classList.add("tgs-" + s);
      g.classList.toggle("tgs-nograd", !n.grad);
    }
    for (const g of boxes.querySelectorAll("g.tgs-box")) {
      const ms = D.scopes[g.dataset.scope].members.map((id) => states[id]);
      g.classList.remove("tgs-reached", "tgs-partial", "tgs-pending");
      if (position === null) continue;
      g.classList.add("tgs-" + (ms.every((s) => s === "reached") ? "reached" : ms.some((s) => s !== "pending") ? "partial" : "pending"));
    }
    const carries = (e) => position !== null && states[e.dst] === "reached" && !!D.nodes[e.src].grad;
    for (const e of edges) {
      const lit = carries(e);
      e.el.classList.toggle("tgs-lit", lit);
      e.el.classList.toggle("tgs-dark", position !== null && !lit);
      e.el.classList.toggle("tgs-stopped", position !== null && states[e.dst] === "reached" && D.nodes[e.src].kind === "detached");
      if (e.path) e.path.style.strokeWidth = lit ? width(D.nodes[e.dst]) : "";
    }
    for (const x of extraEdges) {
      const lit = x.members.some(carries);
      x.line.classList.toggle("tgs-lit", lit);
      x.line.classList.toggle("tgs-dark", position !== null && !lit);
      x.line.setAttribute("marker-end", lit ? "url(#tgs-arrow-lit)" : x.cross ? "url(#tgs-arrow-cross)" : "url(#tgs-arrow)");
    }
    drawBadges(states);
    drawBars();
    describePosition();
  }
  function width(n) {  // as the static backward view: the width grows with log ‖∂L/∂·‖
    const g = n.grad && typeof n.grad.norm === "number" ? n.grad.norm : 0;
    if (!topNorm || !g) return "1px";
    return Math.max(0.6, 3.2 + 0.7 * Math.log10(g / topNorm)).toFixed(2) + "px";
  }
  function drawBadges(states) {
    badges.replaceChildren();
    for (const c of D.cuts) {
      const b = bbox[c.node];
      if (!b || rep(c.node) !== c.node) continue;
      const stopped = position !== null && states[c.node] === "reached";
      const t = el("text", { x: b.x + b.w / 2, y: b.y - 6, "text-anchor": "middle",
                             class: "tgs-badge" + (stopped ? " tgs-badge-on" : "") }, badges);
      t.textContent = stopped ? "✂ the gradient stops here" : "✂ detach()";
    }
  }
  function describePosition() {
    slider.value = String(position === null ? 0 : position);
    document.body.classList.toggle("tgs-backward-on", position !== null);
    if (!N) { label.textContent = "no time steps in this graph: the slider has nothing to step through"; return; }
    if (position === null) { label.textContent = "forward view: press ▶ or move the slider to run the backward pass from the loss"; return; }
    if (position === 0) { label.textContent = "at the loss: ∂L/∂L = 1; nothing sent back yet"; return; }
    const s = D.schedule[position - 1];
    const many = new Set(D.schedule.map((x) => x.seq)).size > 1;
    let text = `through t = ${s.t}${many ? " of " + (s.seq || "the graph") : ""}: ${position} of ${N} steps`;
    if (position === N) text += " — done: every gradient is complete";
    const cut = D.cuts.find((c) => c.step && D.schedule.findIndex((x) => x.path === c.step) < position);
    if (cut) text += " · ✂ no gradient flows past the detached state";
    label.textContent = text;
  }
  function setPosition(p) {
    position = p === null ? null : Math.max(0, Math.min(N, p));
    applyBackward();
    for (const g of root.querySelectorAll("g.cluster.tgs-current")) g.classList.remove("tgs-current");
    const current = position ? clusterEl[D.schedule[position - 1].path] : null;
    if (current) current.classList.add("tgs-current");
    if (position) follow(D.schedule[position - 1].path);
  }
  slider.addEventListener("input", () => setPosition(Number(slider.value)));
  const on = (id, f) => document.getElementById(id).addEventListener("click", f);
  on("tgs-bw-first", () => setPosition(0));
  on("tgs-bw-prev", () => setPosition(position === null ? 0 : position - 1));
  on("tgs-bw-next", () => setPosition(position === null ? 0 : position + 1));
  on("tgs-bw-last", () => setPosition(N));
  on("tgs-bw-off", () => { stopPlay(); setPosition(null); });
  let timer = null;
  function stopPlay() { if (timer) { clearInterval(timer); timer = null; } document.getElementById("tgs-bw-play").textContent = "play"; }
  on("tgs-bw-play", () => {
    if (timer) return stopPlay();
    if (position === null || position >= N) setPosition(0);
    document.getElementById("tgs-bw-play").textContent = "pause";
    timer = setInterval(() => { if (position >= N) stopPlay(); else setPosition(position + 1); }, Math.max(120, 2400 / Math.max(N, 1)));
  });

  // ------------------------------------------------------------------ bars of ‖∇h(t) L‖
  const logBox = document.getElementById("tgs-bars-log");
  logBox.addEventListener("change", drawBars);
  const scheduleIndex = {};
  D.schedule.forEach((s, i) => { scheduleIndex[s.path] = i + 1; });
  function drawBars() {
    barsBox.replaceChildren();
    if (!D.bars.length) {
      html("p", { class: "tgs-hint" }, barsBox, N ? "no hidden state h(t) found in the steps" : "");
      return;
    }
    const W = Math.max(320, barsBox.clientWidth - 12), rowH = D.bars.length > 1 ? 40 : 60, top = 12, left = 190;
    const chart = el("svg", { width: W, height: D.bars.length * (rowH + top + 16) + 4, class: "tgs-chart" }, null);
    barsBox.appendChild(chart);
    const all = D.bars.flatMap((r) => r.steps.map((b) => b.norm)).filter((v) => typeof v === "number" && v > 0);
    const log = logBox.checked;
    const hi = Math.max(...all, 1e-30), lo = Math.min(...all, hi);
    const lhi = Math.log10(hi), llo = Math.min(Math.log10(lo), lhi - 1);
    D.bars.forEach((row, r) => {
      const y0 = r * (rowH + top + 16) + top + 4;
      el("text", { x: 4, y: y0 + 14, class: "tgs-bar-name" }, chart).textContent = `‖∇${row.name}(t) L‖`;
      el("text", { x: 4, y: y0 + 30, class: "tgs-bar-seq" }, chart).textContent = row.seq || "";
      el("text", { x: 4, y: y0 + 46, class: "tgs-bar-seq" }, chart).textContent =
        log ? `log scale, ${fmt(lo)} … ${fmt(hi)}` : `linear, 0 … ${fmt(hi)}`;
      const n = row.steps.length, bw = Math.max(1, Math.min(28, (W - left - 8) / Math.max(n, 1)));
      row.steps.forEach((b, i) => {
        const v = typeof b.norm === "number" ? b.norm : 0;
        const frac = v <= 0 ? 0 : log ? Math.max(0.03, (Math.log10(v) - llo) / (lhi - llo || 1)) : v / hi;
        const h = Math.max(1, frac * rowH), x = left + i * bw;
        const k = scheduleIndex[b.path];
        const state = position === null ? "fwd" : k <= position ? "lit" : "pending";
        const rect = el("rect", { x: x + 0.5, y: y0 + rowH - h, width: Math.max(0.8, bw - 1.5), height: h,
                                  class: "tgs-bar tgs-bar-" + state, "data-step": b.path, "data-t": b.t }, chart);
        el("title", {}, rect).textContent = `t = ${b.t}: ‖∇${row.name}(${b.t}) L‖ = ${fmt(b.norm)}`;
        rect.addEventListener("click", () => { if (b.node) { select(b.node); follow(b.path); } });
        if (n <= 40 || i % Math.ceil(n / 20) === 0 || i === n - 1)
          el("text", { x: x + bw / 2, y: y0 + rowH + 12, "text-anchor": "middle", class: "tgs-bar-t" }, chart).textContent = b.t;
      });
      for (const c of D.cuts) {
        if (c.seq !== row.seq) continue;
        const i = row.steps.findIndex((b) => b.t === c.t);
        if (i < 0) continue;
        const x = left + i * bw;
        el("line", { x1: x, x2: x, y1: y0 - top, y2: y0 + rowH + 2, class: "tgs-bar-cut" }, chart);
        el("text", { x: x + 3, y: y0 - 2, class: "tgs-bar-cut-label" }, chart).textContent = "✂ detach(): the gradient stops";
      }
    });
  }

  // ------------------------------------------------------------------ the side panel
  let pinned = null;
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string") return v;
    if (v === 0) return "0";
    const a = Math.abs(v);
    return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
  }
  const fmtShape = (s) => (!s ? "" : s.length === 0 ? "scalar" : s.join("×"));
  const KIND = { parameter: "parameter", input: "input (no grad)", value: "named value", op: "op", loss: "loss",
                 detached: "detached: the gradient stops", scope: "collapsed scope", elided: "elided steps" };

  function section(parent, title, id) {
    const s = html("section", { class: "tgs-sec", id }, parent);
    html("h3", {}, s, title);
    return s;
  }
  function stats(parent, summary, what) {
    const table = html("table", { class: "tgs-stats" }, parent);
    const row = (k, v, cls) => { const tr = html("tr", {}, table); html("th", {}, tr, k); html("td", { "data-stat": cls }, tr, fmt(v)); };
    if (what === "grad") row("‖∇‖", summary.norm, "norm");
    row("mean", summary.mean, "mean");
    row("std", summary.std, "std");
    row("min", summary.min, "min");
    row("max", summary.max, "max");
    if (what !== "grad") row("‖·‖", summary.norm, "norm");
    if (summary.nonfinite) row("NaN / ±inf", summary.nonfinite, "nonfinite");
    if (summary.head && summary.head.length) {
      const more = summary.size > summary.head.length ? ` … (${summary.size} in all)` : "";
      html("p", { class: "tgs-head", "data-values": JSON.stringify(summary.head) }, parent,
           (summary.size > summary.head.length ? "first values: " : "values: ") + summary.head.map(fmt).join(", ") + more);
    }
    if (summary.heat) heatmap(parent, summary.heat);
  }
  function heatmap(parent, h) {
    const rows = h.q.length, cols = h.q[0].length;
    const cell = Math.max(3, Math.min(24, Math.floor(Math.min(300 / cols, 200 / rows))));
    const c = html("canvas", { width: cols * cell, height: rows * cell, class: "tgs-heat" }, parent);
    const ctx = c.getContext("2d");
    h.q.forEach((r, i) => r.forEach((q, j) => { ctx.fillStyle = colour(q); ctx.fillRect(j * cell, i * cell, cell, cell); }));
    const scale = typeof h.scale === "number" ? h.scale : 0;
    c.addEventListener("mousemove", (ev) => {
      const j = Math.floor(ev.offsetX / cell), i = Math.floor(ev.offsetY / cell);
      if (i < rows && j < cols) {
        const q = h.q[i][j], ri = h.rows ? h.rows[i] : i, cj = h.cols ? h.cols[j] : j;
        c.title = `[${ri}, ${cj}] ≈ ${q === null ? "NaN/inf" : fmt((q / 99) * scale)}`;
      }
    });
    const picked = (h.rows ? `${rows} of ${h.shape[0]} rows` : `${h.shape[0]} rows`) + " × " +
                   (h.cols ? `${cols} of ${h.shape[1]} columns` : `${h.shape[1]} columns`);
    html("p", { class: "tgs-caption" }, parent, `${picked}; blue < 0 < red, |x| up to ${fmt(h.scale)}`);
  }
  function colour(q) {
    if (q === null) return "#222";
    const a = Math.min(1, Math.abs(q) / 99);
    const [r, g, b] = q >= 0 ? [192, 57, 43] : [46, 109, 180];
    const mix = (c) => Math.round(255 + (c - 255) * a);
    return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
  }
  function breadcrumb(parent, path) {
    const p = html("p", { class: "tgs-crumbs", id: "tgs-info-scope" }, parent);
    if (!path) { p.textContent = "outside every scope"; return; }
    const parts = path.split("/");
    parts.forEach((part, i) => {
      const sub = parts.slice(0, i + 1).join("/");
      if (i) html("span", { class: "tgs-sep" }, p, " › ");
      if (sub in D.scopes) {
        const b = html("button", { class: "tgs-crumb", title: "collapse " + sub }, p, D.scopes[sub].label);
        b.addEventListener("click", () => { collapsed.has(sub) ? expand(sub) : collapse(sub); });
      } else html("span", {}, p, part);
    });
  }
  function ruleSection(n) {
    const s = section(info, "Derivative rule", "tgs-rule");
    if (!n.op) {
      html("p", {}, s, "a leaf: no op made it, so there is no rule; gradients stop or accumulate here");
      return;
    }
    const r = D.rules[n.op];
    if (!r) { html("p", {}, s, `op ${n.op}: its rule was not found`); return; }
    html("p", { class: "tgs-where" }, s, `${r.module}.${r.class}  (op "${r.op}")`);
    if (r.rule) html("pre", { class: "tgs-math" }, s, r.rule);
    if (r.doc) html("pre", { class: "tgs-doc" }, s, r.doc);
    if (r.backward) {
      const d = html("details", { open: "" }, s);
      html("summary", {}, d, "backward, as the library writes it");
      html("pre", { class: "tgs-code" }, d, r.backward);
    }
  }
  function users(id) { return edges.filter((e) => e.src === id).map((e) => e.dst); }
  function showNode(id) {
    const n = D.nodes[id];
    info.replaceChildren();
    const head = html("div", { class: "tgs-head-row" }, info);
    html("span", { class: "tgs-chip tgs-chip-" + n.kind }, head, KIND[n.kind] || n.kind);
    html("h2", { id: "tgs-info-title" }, info, n.title);
    const facts = html("table", { class: "tgs-facts" }, info);
    const fact = (k, v, id2) => { const tr = html("tr", {}, facts); html("th", {}, tr, k); html("td", id2 ? { id: id2 } : {}, tr, v); };
    if (n.op) fact("op", n.op, "tgs-info-op");
    if (n.shape) fact("shape", fmtShape(n.shape) + (n.dtype ? "  " + n.dtype : ""), "tgs-info-shape");
    if (n.step) fact("time step", "t = " + n.step[1]);
    if (n.kind === "elided" || n.kind === "scope") fact("stands for", n.detail || n.members + " tensors");
    if (position !== null) {
      const s = stateOf(n);
      const reached = n.kind === "detached" ? "reached: the gradient stops here" : n.grad ? "gradient complete"
        : "reached; it takes no gradient";
      fact("backward", s === "reached" ? reached : s === "partial" ? "gradient arriving (summing)" : "not reached yet");
    }
    breadcrumb(info, n.home);
    if (n.kind === "parameter") {
      const steps = new Set(users(id).map((u) => (D.nodes[u].step ? D.nodes[u].step[0] : "")).filter(Boolean));
      if (steps.size > 1)
        html("p", { class: "tgs-note" }, info, `drawn once and used by ${steps.size} time steps: its gradient is the sum of ` +
             "their contributions, BPTT's Σ over t");
    }
    if (n.value) { const s = section(info, "Value", "tgs-value"); stats(s, n.value, "value"); }
    const g = section(info, "Gradient ∂L/∂·", "tgs-grad");
    if (n.grad) stats(g, n.grad, "grad");
    else if (n.kind === "detached") html("p", { class: "tgs-note" }, g, "✂ no gradient: detach() made this a new leaf; " +
             "truncated BPTT stops the gradient here, so nothing flows back into the earlier chunk");
    else if (n.requiresGrad === false) html("p", {}, g, "none: an input that needs no gradient (requires_grad=False)");
    else html("p", {}, g, D.gradNote);
    ruleSection(n);
  }
  function showScope(path) {
    const s = D.scopes[path];
    info.replaceChildren();
    html("span", { class: "tgs-chip tgs-chip-scope" }, info, "collapsed scope");
    html("h2", { id: "tgs-info-title" }, info, s.label);
    breadcrumb(info, path);
    html("p", {}, info, `${s.members.length} nodes inside; click the box to expand it.`);
    const norms = s.members.map((id) => D.nodes[id].grad).filter((g) => g && typeof g.norm === "number").map((g) => g.norm);
    if (norms.length) html("p", {}, info, `largest ‖∂L/∂·‖ inside: ${fmt(Math.max(...norms))}`);
  }
  function select(id) {
    pinned = id;
    for (const g of root.querySelectorAll(".tgs-selected")) g.classList.remove("tgs-selected");
    if (id && nodeEl[id]) nodeEl[id].classList.add("tgs-selected");
    if (id) showNode(id);
  }

  // ------------------------------------------------------------------ pan and zoom
  const full = svg.viewBox.baseVal;
  const vb = { x: full.x, y: full.y, w: full.width, h: full.height };
  const whole = { ...vb };
  function setView() { svg.setAttribute("viewBox", `${vb.x} ${vb.y} ${vb.w} ${vb.h}`); }
  function toSvg(cx, cy) {
    const m = svg.getScreenCTM().inverse();
    const p = new DOMPoint(cx, cy).matrixTransform(m);
    return { x: p.x, y: p.y };
  }
  function zoom(factor, cx, cy) {
    const r = svg.getBoundingClientRect();
    const p = toSvg(cx === undefined ? r.left + r.width / 2 : cx, cy === undefined ? r.top + r.height / 2 : cy);
    vb.x = p.x - (p.x - vb.x) * factor; vb.y = p.y - (p.y - vb.y) * factor;
    vb.w *= factor; vb.h *= factor;
    setView();
  }
  function fit() { Object.assign(vb, whole); setView(); }
  function pxPerUnit() { const r = svg.getBoundingClientRect(); return Math.min(r.width / vb.w, r.height / vb.h); }
  function follow(stepPath) {  // bring a step into view when it is off screen
    const ids = Object.keys(nodeEl).filter((id) => D.nodes[id].step && D.nodes[id].step[0] === stepPath);
    const bs = ids.map((id) => (rep(id) === id ? bbox[id] : geom(rep(id)))).filter(Boolean);
    if (!bs.length) return;
    const ctm = root.getCTM(), rootCtm = svg.getCTM();
    const m = rootCtm.inverse().multiply(ctm);  // overlay coordinates -> viewBox coordinates
    const c = new DOMPoint(bs[0].x + bs[0].w / 2, bs[0].y + bs[0].h / 2).matrixTransform(m);
    if (c.x < vb.x || c.x > vb.x + vb.w || c.y < vb.y || c.y > vb.y + vb.h) {
      vb.x = c.x - vb.w / 2; vb.y = c.y - vb.h / 2; setView();
    }
  }
  function initialView() {
    setView();
    if (pxPerUnit() >= 0.3) return;
    // too small to read: start at a readable size around the loss, where the backward pass begins
    const r = svg.getBoundingClientRect();
    const scale = 0.75;
    vb.w = r.width / scale; vb.h = r.height / scale;
    const lossId = Object.keys(nodeEl).find((id) => D.nodes[id].kind === "loss" && D.nodes[id].done === 0);
    const m = svg.getCTM().inverse().multiply(root.getCTM());
    const b = lossId ? bbox[lossId] : null;
    const c = b ? new DOMPoint(b.x + b.w / 2, b.y + b.h / 2).matrixTransform(m) : { x: whole.x + whole.w, y: whole.y };
    const clamp = (v, lo, hi) => (hi < lo ? (lo + hi) / 2 : Math.min(Math.max(lo, v), hi));
    vb.x = clamp(c.x - vb.w / 2, whole.x, whole.x + whole.w - vb.w);
    vb.y = clamp(c.y - vb.h / 3, whole.y, whole.y + whole.h - vb.h);
    setView();
  }
  let drag = null, moved = false;
  svg.addEventListener("pointerdown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, vx: vb.x, vy: vb.y }; moved = false; });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) moved = true;
    if (!moved) return;
    const k = 1 / pxPerUnit();
    vb.x = drag.vx - dx * k; vb.y = drag.vy - dy * k;
    setView();
  });
  window.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(Math.exp(ev.deltaY * 0.0015), ev.clientX, ev.clientY); },
                       { passive: false });
  on("tgs-fit", fit);
  on("tgs-zoom-in", () => zoom(1 / 1.3));
  on("tgs-zoom-out", () => zoom(1.3));
  on("tgs-collapse-steps", () => { for (const [p, s] of Object.entries(D.scopes)) if (s.t !== null) collapsed.add(p); layoutScopes(); });
  on("tgs-expand-all", () => { collapsed.clear(); layoutScopes(); });
  window.addEventListener("keydown", (ev) => {
    if (ev.target && ev.target.tagName === "INPUT") return;
    if (ev.key === "f") fit();
    else if (ev.key === "+" || ev.key === "=") zoom(1 / 1.3);
    else if (ev.key === "-") zoom(1.3);
    else if (ev.key === "ArrowRight") setPosition(position === null ? 0 : position + 1);
    else if (ev.key === "ArrowLeft") setPosition(position === null ? 0 : position - 1);
  });

  // ------------------------------------------------------------------ hover and click
  svg.addEventListener("mouseover", (ev) => {
    const g = ev.target.closest && ev.target.closest("g.node");
    if (!g) return;
    if (g.dataset.node) showNode(g.dataset.node);
    else if (g.dataset.scope) showScope(g.dataset.scope);
  });
  svg.addEventListener("mouseleave", () => { if (pinned) showNode(pinned); });
  svg.addEventListener("click", (ev) => {
    if (moved) return;
    const t = ev.target.closest ? ev.target : null;
    const boxG = t && t.closest("g.tgs-box");
    if (boxG) { expand(boxG.dataset.scope); return; }
    const g = t && t.closest("g.node");
    if (g && g.dataset.node) { select(g.dataset.node); return; }
    const c = t && t.closest("g.cluster");
    if (c && c.dataset.scope) { collapse(c.dataset.scope); return; }
    select(null);
  });

  // for tests and for the curious: window.tgsExplorer.collapse("VanillaRNN/t=2"), .setPosition(3), ...
  window.tgsExplorer = { data: D, collapse, expand, setPosition, visibleNodeIds, select, fit,
                         get position() { return position; }, get collapsed() { return [...collapsed]; } };
  layoutScopes();
  initialView();
  if (D.notes.length) html("p", { class: "tgs-hint" }, info, D.notes.join(" "));
  window.addEventListener("resize", drawBars);
})();

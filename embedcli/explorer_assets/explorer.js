// embedcli explore: the page's script (inlined by embedcli/explorer.py; no library, no network).
// User strings (words, labels, document texts) are shown through textContent and canvas
// fillText only, never as HTML.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("explorer-data").textContent);

  function bytes(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return new DataView(out.buffer);
  }
  function f32(b64) {
    var v = bytes(b64), out = new Float32Array(v.byteLength / 4);
    for (var i = 0; i < out.length; i++) out[i] = v.getFloat32(4 * i, true);
    return out;
  }
  function f64(b64) {
    var v = bytes(b64), out = new Float64Array(v.byteLength / 8);
    for (var i = 0; i < out.length; i++) out[i] = v.getFloat64(8 * i, true);
    return out;
  }
  function u32(b64) {
    var v = bytes(b64), out = new Uint32Array(v.byteLength / 4);
    for (var i = 0; i < out.length; i++) out[i] = v.getUint32(4 * i, true);
    return out;
  }
  function u16(b64) {
    var v = bytes(b64), out = new Uint32Array(v.byteLength / 2);
    for (var i = 0; i < out.length; i++) out[i] = v.getUint16(2 * i, true);
    return out;
  }
  function i16(b64) {
    var v = bytes(b64), out = new Float32Array(v.byteLength / 2);
    for (var i = 0; i < out.length; i++) out[i] = v.getInt16(2 * i, true) / 10000;
    return out;
  }

  var n = D.n, k = D.k, words = D.words, extra = D.extra || [];
  var ids = u32(D.ids), counts = D.counts ? f64(D.counts) : null;
  var xy = f32(D.xy), nbr = D.nbrWide ? u32(D.nbr) : u16(D.nbr), sim = i16(D.sim);
  var docs = D.docs || [], docXy = D.docXy ? f32(D.docXy) : new Float32Array(0);

  // extra query words are drawn at the mean position of their three nearest mapped words
  var extraXy = new Float32Array(2 * extra.length);
  for (var e = 0; e < extra.length; e++) {
    var m = Math.min(3, k), ax = 0, ay = 0;
    for (var j = 0; j < m; j++) {
      var w = nbr[(n + e) * k + j];
      ax += xy[2 * w];
      ay += xy[2 * w + 1];
    }
    extraXy[2 * e] = m ? ax / m : 0;
    extraXy[2 * e + 1] = m ? ay / m : 0;
  }

  // search index: exact spelling first, then lower case
  var exact = new Map(), folded = new Map();
  function addKey(word, ref) {
    if (!exact.has(word)) exact.set(word, ref);
    var low = word.toLowerCase();
    if (!folded.has(low)) folded.set(low, ref);
  }
  for (var i = 0; i < n; i++) addKey(words[i], i);
  for (var x = 0; x < extra.length; x++) addKey(extra[x], n + x);

  // labels of the documents: one colour each
  var labelNames = [];
  docs.forEach(function (d) {
    var lab = d.label != null ? d.label : d.predicted;
    if (lab != null && labelNames.indexOf(lab) < 0) labelNames.push(lab);
  });
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  function docColour(d) {
    var lab = d.label != null ? d.label : d.predicted;
    var at = labelNames.indexOf(lab);
    return at < 0 ? "#444" : PALETTE[at % PALETTE.length];
  }

  var canvas = document.getElementById("map"), ctx = canvas.getContext("2d");
  var tip = document.getElementById("tip"), status = document.getElementById("status");
  var search = document.getElementById("search"), list = document.getElementById("neighbours");
  var panelTitle = document.getElementById("panel-title"), explainBox = document.getElementById("explain");
  document.getElementById("title").textContent = D.title;
  document.getElementById("help").textContent =
    "Wheel to zoom, drag to pan, hover a point, type a word and press Enter. Neighbours are " +
    "the " + k + " nearest mapped words by cosine in the full " + D.dim + "-dimensional space.";
  var notes = document.getElementById("notes");
  labelNames.forEach(function (lab, at) {
    var li = document.createElement("li"), swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = PALETTE[at % PALETTE.length];
    li.appendChild(swatch);
    li.appendChild(document.createTextNode(lab));
    notes.appendChild(li);
  });
  (D.notes || []).forEach(function (t) {
    var li = document.createElement("li");
    li.textContent = t;
    notes.appendChild(li);
  });

  // data bounds -> view transform (screen = (data - centre) * scale + canvas centre)
  // the first view frames every point, unless a few outliers (rare words far out on a PCA
  // axis) would squeeze the rest into a dot: then the central 99% on that axis
  function bounds(axis) {
    var vals = [];
    [xy, docXy].forEach(function (arr) {
      for (var i = axis; i < arr.length; i += 2) if (isFinite(arr[i])) vals.push(arr[i]);
    });
    if (!vals.length) return [-1, 1];
    vals.sort(function (a, b) { return a - b; });
    var cut = Math.floor(vals.length * 0.005), lo = vals[cut], hi = vals[vals.length - 1 - cut];
    var all = vals[vals.length - 1] - vals[0];
    return all > 3 * (hi - lo) ? [lo, hi] : [vals[0], vals[vals.length - 1]];
  }
  var bx = bounds(0), by = bounds(1);
  var minX = bx[0], maxX = bx[1], minY = by[0], maxY = by[1];
  var view = { cx: 0, cy: 0, scale: 1 }, width = 0, height = 0, dpr = 1;
  function resetView() {
    view.cx = (minX + maxX) / 2;
    view.cy = (minY + maxY) / 2;
    var spanX = Math.max(maxX - minX, 1e-9), spanY = Math.max(maxY - minY, 1e-9);
    view.scale = 0.9 * Math.min(width / spanX, height / spanY);
  }
  function sx(x) { return (x - view.cx) * view.scale + width / 2; }
  function sy(y) { return height / 2 - (y - view.cy) * view.scale; }

  var selected = -1, hits = new Set(), stats = { drawn: 0, docsDrawn: 0, labels: 0 };
  window.explorer = { stats: stats, n: n, k: k, docs: docs.length, query: null, neighbours: [] };

  function resize() {
    dpr = window.devicePixelRatio || 1;
    width = canvas.clientWidth;
    height = canvas.clientHeight;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }

  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    var drawn = 0, docsDrawn = 0, dim = selected >= 0;  // a search fades the rest
    ctx.globalAlpha = dim ? 0.3 : 1;
    ctx.fillStyle = "rgba(40, 70, 140, 0.55)";
    for (var i = 0; i < n; i++) {
      var px = sx(xy[2 * i]), py = sy(xy[2 * i + 1]);
      if (px < -4 || py < -4 || px > width + 4 || py > height + 4) continue;
      ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
      drawn++;
    }
    for (var d = 0; d < docs.length; d++) {
      var dx = sx(docXy[2 * d]), dy = sy(docXy[2 * d + 1]);
      if (dx < -4 || dy < -4 || dx > width + 4 || dy > height + 4) continue;
      ctx.fillStyle = docColour(docs[d]);
      ctx.beginPath();
      ctx.arc(dx, dy, 3.5, 0, 2 * Math.PI);
      ctx.fill();
      docsDrawn++;
    }
    // labels where there is room, most frequent words first: more appear as you zoom in
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    var taken = new Set(), cw = 70, ch = 14, labels = 0;
    for (var t = 0; t < n; t++) {
      if (hits.has(t) || t === selected) continue;
      var lx = sx(xy[2 * t]), ly = sy(xy[2 * t + 1]);
      if (lx < 0 || ly < 0 || lx > width || ly > height) continue;
      var key = Math.floor(lx / cw) + ":" + Math.floor(ly / ch);
      if (taken.has(key)) continue;
      taken.add(key);
      ctx.fillStyle = "rgba(20, 20, 20, 0.8)";
      ctx.fillText(words[t], lx + 4, ly);
      labels++;
    }
    // the search result on top: neighbours as black-ringed yellow dots, the query in red
    ctx.globalAlpha = 1;
    ctx.font = "bold 12px sans-serif";
    hits.forEach(function (h) { mark(xy[2 * h], xy[2 * h + 1], "#111", words[h]); });
    if (selected >= 0) {
      var qx = selected < n ? xy[2 * selected] : extraXy[2 * (selected - n)];
      var qy = selected < n ? xy[2 * selected + 1] : extraXy[2 * (selected - n) + 1];
      mark(qx, qy, "#c92a2a", selected < n ? words[selected] : extra[selected - n], true);
    }
    stats.drawn = drawn;
    stats.docsDrawn = docsDrawn;
    stats.labels = labels;
    status.textContent = drawn + " of " + n + " words in view" +
      (docs.length ? ", " + docsDrawn + " of " + docs.length + " documents" : "");
  }

  function mark(x, y, colour, text, ring) {
    var px = sx(x), py = sy(y);
    ctx.fillStyle = colour;
    ctx.strokeStyle = colour;
    ctx.beginPath();
    ctx.arc(px, py, ring ? 7 : 5, 0, 2 * Math.PI);
    if (!ring) { ctx.fillStyle = "#ffd43b"; ctx.fill(); }
    ctx.lineWidth = ring ? 3 : 1.5;
    ctx.stroke();
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    var wdt = ctx.measureText(text).width;
    ctx.fillRect(px + 8, py - 8, wdt + 4, 16);
    ctx.fillStyle = colour;
    ctx.fillText(text, px + 10, py);
  }

  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }

  // -- search ---------------------------------------------------------------------------------
  function show(ref) {
    selected = ref;
    hits = new Set();
    list.textContent = "";
    explainBox.textContent = "";
    var query = ref < n ? words[ref] : extra[ref - n];
    var heading = ref < n
      ? query + " (id " + ids[ref] + ", " + frequencyText(ref) + ")"
      : query + " (not on the map: " + (D.extraNotes[ref - n] || "from --words") + ")";
    panelTitle.textContent = heading;
    var found = [];
    for (var j = 0; j < k; j++) {
      var w = nbr[ref * k + j];
      hits.add(w);
      found.push(words[w]);
      var li = document.createElement("li");
      li.dataset.word = words[w];
      li.dataset.cosine = sim[ref * k + j].toFixed(4);
      li.textContent = words[w] + "  " + sim[ref * k + j].toFixed(4);
      li.addEventListener("click", function (ev) { find(ev.currentTarget.dataset.word); });
      list.appendChild(li);
    }
    window.explorer.query = query;
    window.explorer.neighbours = found;
    var cx = ref < n ? xy[2 * ref] : extraXy[2 * (ref - n)];
    var cy = ref < n ? xy[2 * ref + 1] : extraXy[2 * (ref - n) + 1];
    view.cx = cx;
    view.cy = cy;
    redraw();
  }

  function find(text) {
    var q = text.trim();
    if (!q) return;
    var ref = exact.has(q) ? exact.get(q) : folded.get(q.toLowerCase());
    if (ref === undefined) {
      selected = -1;
      hits = new Set();
      list.textContent = "";
      panelTitle.textContent = q + ": not on this page (it searches the " + n +
        " mapped words" + (extra.length ? " and " + extra.length + " --words entries" : "") +
        "; rebuild with --words FILE or a larger --top)";
      window.explorer.query = q;
      window.explorer.neighbours = [];
      redraw();
      return;
    }
    search.value = q;
    show(ref);
  }
  search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") find(search.value); });
  search.addEventListener("change", function () { find(search.value); });

  function frequencyText(i) {
    return counts ? "frequency " + counts[i] : "frequency not recorded by this model";
  }

  // -- hover, click, zoom, pan ------------------------------------------------------------------
  function nearestPoint(mx, my) {
    var best = null, bestD = 64;  // within 8 px
    for (var i = 0; i < n; i++) {
      var dx = sx(xy[2 * i]) - mx, dy = sy(xy[2 * i + 1]) - my, dd = dx * dx + dy * dy;
      if (dd < bestD) { bestD = dd; best = { word: i }; }
    }
    for (var d = 0; d < docs.length; d++) {
      var ex = sx(docXy[2 * d]) - mx, ey = sy(docXy[2 * d + 1]) - my, de = ex * ex + ey * ey;
      if (de < bestD) { bestD = de; best = { doc: d }; }
    }
    return best;
  }

  function tipLines(hit) {
    if (hit.word !== undefined) {
      var i = hit.word;
      return [words[i], "id " + ids[i], frequencyText(i)];
    }
    var d = docs[hit.doc], lines = [d.text];
    if (d.label != null) lines.push("label: " + d.label);
    if (d.predicted != null) lines.push("predicted: " + d.predicted);
    if (d.explain) lines.push("click for the per-token contributions");
    return lines;
  }

  function explain(index) {
    var d = docs[index];
    selected = -1;
    hits = new Set();
    list.textContent = "";
    explainBox.textContent = "";
    panelTitle.textContent = "document " + (index + 1);
    var p = document.createElement("p");
    p.textContent = d.text;
    explainBox.appendChild(p);
    if (!d.explain) {
      var none = document.createElement("p");
      none.textContent = D.kind === "vectors"
        ? "A word-vector model predicts nothing: no contributions to show."
        : "No contributions for this document (no token, or a model --explain cannot explain).";
      explainBox.appendChild(none);
      redraw();
      return;
    }
    var ex = d.explain, head = document.createElement("p");
    head.textContent = "score of " + ex.label + " = " + ex.score.toFixed(4) +
      " (bias " + ex.bias.toFixed(4) + "); contributions as predict --explain gives them:";
    explainBox.appendChild(head);
    var table = document.createElement("table"), top = 1e-12;
    ex.features.forEach(function (f) { top = Math.max(top, Math.abs(f[1])); });
    ex.features.forEach(function (f) {
      var tr = document.createElement("tr"), name = document.createElement("td");
      var value = document.createElement("td"), barCell = document.createElement("td");
      var bar = document.createElement("span");
      name.textContent = f[0];
      value.textContent = (f[1] >= 0 ? "+" : "") + f[1].toFixed(4);
      bar.className = f[1] >= 0 ? "bar pos" : "bar neg";
      bar.style.width = Math.round(80 * Math.abs(f[1]) / top) + "px";
      barCell.appendChild(bar);
      tr.appendChild(name); tr.appendChild(value); tr.appendChild(barCell);
      table.appendChild(tr);
    });
    explainBox.appendChild(table);
    if (ex.more) {
      var more = document.createElement("p");
      more.textContent = "... and " + ex.more + " smaller contributions";
      explainBox.appendChild(more);
    }
    redraw();
  }

  var drag = null;
  canvas.addEventListener("mousedown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, cx: view.cx, cy: view.cy, moved: false };
  });
  window.addEventListener("mouseup", function (ev) {
    if (drag && !drag.moved) {
      var r = canvas.getBoundingClientRect(), hit = nearestPoint(ev.clientX - r.left, ev.clientY - r.top);
      if (hit && hit.doc !== undefined) explain(hit.doc);
      else if (hit) { search.value = words[hit.word]; show(hit.word); }
    }
    drag = null;
  });
  canvas.addEventListener("mousemove", function (ev) {
    var r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
    if (drag) {
      var ddx = ev.clientX - drag.x, ddy = ev.clientY - drag.y;
      if (Math.abs(ddx) + Math.abs(ddy) > 3) drag.moved = true;
      view.cx = drag.cx - ddx / view.scale;
      view.cy = drag.cy + ddy / view.scale;
      tip.hidden = true;
      redraw();
      return;
    }
    var hit = nearestPoint(mx, my);
    if (!hit) { tip.hidden = true; return; }
    tip.textContent = "";
    tipLines(hit).forEach(function (line, at) {
      var div = document.createElement("div");
      if (at === 0) div.className = "head";
      div.textContent = line;
      tip.appendChild(div);
    });
    tip.style.left = (ev.clientX + 14) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
    var wx = view.cx + (mx - width / 2) / view.scale, wy = view.cy - (my - height / 2) / view.scale;
    var factor = Math.exp(-ev.deltaY * 0.0015);
    view.scale *= factor;
    view.cx = wx - (mx - width / 2) / view.scale;
    view.cy = wy + (my - height / 2) / view.scale;
    redraw();
  }, { passive: false });
  document.getElementById("reset").addEventListener("click", function () { resetView(); redraw(); });
  window.addEventListener("resize", function () { resize(); redraw(); });

  window.explorer.find = find;
  window.explorer.explain = explain;
  window.explorer.screenOf = function (i) { return [sx(xy[2 * i]), sy(xy[2 * i + 1]), width, height]; };
  window.explorer.zoom = function (factor) { view.scale *= factor; draw(); };
  resize();
  resetView();
  draw();
  document.body.dataset.ready = "1";
})();

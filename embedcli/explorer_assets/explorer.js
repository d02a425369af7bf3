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
  function f16(bits) {  // an IEEE half as a number (exact)
    var sign = bits & 0x8000 ? -1 : 1, e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
    if (e === 0) return sign * m * Math.pow(2, -24);
    if (e === 31) return m ? NaN : sign * Infinity;
    return sign * (1024 + m) * Math.pow(2, e - 25);
  }
  function packed(b64, precision) {  // int8 or float16 values as a Float64Array
    var v = bytes(b64), len = precision === "int8" ? v.byteLength : v.byteLength / 2;
    var out = new Float64Array(len);
    for (var i = 0; i < len; i++) out[i] = precision === "int8" ? v.getInt8(i) : f16(v.getUint16(2 * i, true));
    return out;
  }

  var n = D.n, k = D.k, dim = D.dim, words = D.words, S = D.search;
  var ids = u32(D.ids), counts = D.counts ? f64(D.counts) : null;
  var xy = f32(D.xy);
  var docs = D.docs || [], docXy = D.docXy ? f32(D.docXy) : new Float32Array(0);

  // the full-space vectors of the carried words (the mapped ones first); the mapped rows' norms
  var rows = packed(S.rows, S.precision), norms = new Float64Array(n);
  for (var r = 0; r < n; r++) {
    var ss = 0;
    for (var c = 0; c < dim; c++) ss += rows[r * dim + c] * rows[r * dim + c];
    norms[r] = Math.sqrt(ss);
  }
  var sub = S.sub, subIds = sub ? u32(sub.ids) : null;
  var subRows = sub ? packed(sub.rows, S.precision) : null, subScale = sub ? f32(sub.scale) : null;

  // the carried words by spelling (a word's first entry wins)
  var index = new Map();
  for (var i = 0; i < words.length; i++) if (!index.has(words[i])) index.set(words[i], i);

  // -- the model's tokenizer (embedcli.text.Tokenizer) -------------------------------------------
  var T = S.tok, tokenRe = null, seps = new Set(Array.from(T.separators));
  var punct = new Set(Array.from(T.punctuation || ""));
  // Python's str.strip() whitespace (JavaScript's trim() also strips U+FEFF, not \x1c-\x1f, U+0085)
  var spaces = new Set(Array.from(T.spaces || T.separators));
  function pyStrip(text) {
    var cs = Array.from(text), a = 0, b = cs.length;
    while (a < b && spaces.has(cs[a])) a++;
    while (b > a && spaces.has(cs[b - 1])) b--;
    return cs.slice(a, b).join("");
  }
  // the token pattern as embedcli.explorer.js_pattern rewrote it: Python's \s \w \d \b spelled out
  if (T.js_pattern != null) {
    tokenRe = new RegExp(T.js_pattern, "gu");
  } else if (T.token_pattern != null) {
    try { tokenRe = new RegExp(T.token_pattern, "gu"); } catch (e1) {
      try { tokenRe = new RegExp(T.token_pattern, "g"); } catch (e2) { tokenRe = null; }
    }
  }
  function tokenize(text) {
    var t = text;
    if (T.lower) {
      t = T.lowercase === "unicode" ? t.toLowerCase()
        : t.replace(/[A-Z]/g, function (ch) { return ch.toLowerCase(); });
    }
    if (punct.size) {
      var out = "", prev = false;
      Array.from(t).forEach(function (ch) {
        var p = punct.has(ch);
        if (!p) out += ch;
        else if (T.punctuation_mode === "space" && !prev) out += " ";
        prev = p;
      });
      t = out;
    }
    if (tokenRe) return t.match(tokenRe) || [];
    var toks = [], cur = "";
    Array.from(t).forEach(function (ch) {
      if (seps.has(ch)) { if (cur) toks.push(cur); cur = ""; } else cur += ch;
    });
    if (cur) toks.push(cur);
    return toks;
  }

  // -- fastText's subwords (embedcli.subwords): n-grams of "<word>" by code point, FNV-1a over
  // the UTF-8 bytes with each byte sign-extended (C's signed char), bucket = uint32 hash % buckets
  // UTF-8 as Python's encode("utf-8", "surrogatepass"), embedcli's: a lone surrogate is its
  // 3-byte form (TextEncoder would turn it into U+FFFD)
  function utf8(text) {
    var out = [];
    for (var i = 0; i < text.length; i++) {
      var c = text.codePointAt(i);
      if (c > 0xffff) i++;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }
  function fnv1a(text) {
    var b = utf8(text), h = 2166136261;
    for (var i = 0; i < b.length; i++) {
      h = Math.imul((h ^ (b[i] >= 0x80 ? (0xffffff00 | b[i]) : b[i])) >>> 0, 16777619) >>> 0;
    }
    return h;
  }
  function ngramBuckets(word) {
    var chars = Array.from("<" + word + ">"), size = chars.length, out = [];
    for (var i = 0; i < size; i++) {
      for (var len = Math.max(sub.minn, 1); len <= Math.min(sub.maxn, size - i); len++) {
        if (len === 1 && (i === 0 || i + 1 === size)) continue;
        out.push(fnv1a(chars.slice(i, i + len).join("")) % sub.buckets);
      }
    }
    return out;
  }
  function bucketRow(b) {  // binary search in the sorted bucket ids: the row, or -1
    var lo = 0, hi = subIds.length - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (subIds[mid] === b) return mid;
      if (subIds[mid] < b) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  // a typed word -> its vector and where it came from (embedcli.explorer.page_search)
  function lookup(text) {
    var word = text, at = index.get(text);  // a carried word's exact spelling first
    if (at === undefined) {
      var toks = tokenize(text);
      if (toks.length !== 1) return { token: null, source: "tokens", count: toks.length };
      word = toks[0];
      at = index.get(word);
    }
    if (at !== undefined) {
      return { token: word, vector: rows.slice(at * dim, (at + 1) * dim), self: at < n ? at : -1,
        source: at < n ? "mapped" : at < S.nv ? "vocabulary" : "extra", at: at, exact: true };
    }
    if (!sub) return { token: word, source: "unknown" };
    var buckets = ngramBuckets(word), known = 0, acc = new Float64Array(dim);
    buckets.forEach(function (b) {
      var row = bucketRow(b);
      if (row < 0) return;
      for (var d = 0; d < dim; d++) acc[d] = acc[d] + subRows[row * dim + d] * subScale[row];
      known++;
    });
    var exact = (known === buckets.length || (sub.rule === "vectors" && sub.complete)) &&
      S.nv === S.vocabSize;
    var res = { token: word, source: known ? "ngrams" : "no-vector", self: -1, known: known,
      total: buckets.length, exact: exact, buckets: buckets };
    if (!known) return res;
    for (var e = 0; e < dim; e++) acc[e] = acc[e] / known;
    res.vector = acc;
    return res;
  }

  // the kk mapped words nearest v by cosine (best first, ties by the lower index), self left out
  function nearest(v, self, kk) {
    var vn = 0;
    for (var d = 0; d < dim; d++) vn = vn + v[d] * v[d];
    vn = Math.sqrt(vn);
    var best = [];
    if (vn === 0) return best;
    for (var i = 0; i < n; i++) {
      if (i === self) continue;
      var dot = 0, base = i * dim;
      for (var j = 0; j < dim; j++) dot = dot + v[j] * rows[base + j];
      var cos = norms[i] > 0 ? dot / (vn * norms[i]) : 0;
      if (best.length === kk && !(cos > best[kk - 1][1])) continue;
      var at = best.length;
      while (at > 0 && cos > best[at - 1][1]) at--;
      best.splice(at, 0, [i, cos]);
      if (best.length > kk) best.pop();
    }
    return best;
  }

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
    "Wheel, pinch or + / - to zoom, drag or arrow keys to pan, 0 to reset; hover a point; type " +
    "any word and press Enter (" + (S.sub ? "unknown words get a vector from their n-grams" :
      "words of this page") + "). Neighbours are the " + k + " nearest mapped words by cosine " +
    "in the full " + D.dim + "-dimensional space (vectors packed as " + S.precision + ").";
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

  // the search result: the query's point (a mapped word, or drawn at the mean position of its
  // three nearest mapped words) and its neighbours
  var selected = -1, query = null, hits = new Set(), stats = { drawn: 0, docsDrawn: 0, labels: 0 };
  window.explorer = { stats: stats, n: n, k: k, docs: docs.length, query: null, neighbours: [],
    cosines: [], note: "" };

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
    var drawn = 0, docsDrawn = 0;
    ctx.globalAlpha = query ? 0.3 : 1;  // a search fades the rest
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
    if (query) mark(query.x, query.y, "#c92a2a", query.label, true);
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
  function clearSearch() {
    selected = -1;
    query = null;
    hits = new Set();
    list.textContent = "";
    explainBox.textContent = "";
  }

  function sourceText(res) {
    if (res.source === "mapped") {
      return "id " + ids[res.at] + ", " + frequencyText(res.at);
    }
    if (res.source === "vocabulary") return "vocabulary word, not on the map";
    if (res.source === "extra") return "not on the map: " + (D.extraNotes[res.at - S.nv] || "from --words");
    var t = "out of the page's vocabulary: the mean of " + res.known + " of " + res.total +
      " n-gram rows";
    if (!res.exact) {
      t = (res.known < res.total ? "approximate: " + res.known + " of " + res.total +
        " n-grams on this page" : "approximate") +
        (S.nv < S.vocabSize ? " (and it may be one of the model's words beyond the " + S.nv +
          " on this page)" : "") + "; rebuild with a larger --ngram-words / --search-words or --words";
    } else if (res.known < res.total) {
      t += " (the model has no row for the other " + (res.total - res.known) + ": left out, as embedcli does)";
    }
    return t;
  }

  // search a typed word: the page's algorithm, embedcli.explorer.page_search in Python
  function find(text) {
    var q = pyStrip(text);
    if (!q) return;
    clearSearch();
    var res = lookup(q);
    window.explorer.query = res.token;
    window.explorer.neighbours = [];
    window.explorer.cosines = [];
    window.explorer.source = res.source;
    window.explorer.exact = res.exact !== false;
    if (!res.vector) {
      var why = res.source === "tokens"
        ? (res.count ? "this model reads it as " + res.count + " tokens: type one word"
          : "no token left after the model's standardization")
        : res.source === "unknown" ? "not a word of this page, and the model has no subwords"
          : "none of its " + res.total + " n-grams has a row on this page";
      panelTitle.textContent = (res.token || q) + ": " + why;
      window.explorer.note = why;
      redraw();
      return;
    }
    var best = nearest(res.vector, res.self, k), found = [];
    best.forEach(function (pair) {
      var w = pair[0];
      hits.add(w);
      found.push(words[w]);
      window.explorer.cosines.push(pair[1]);
      var li = document.createElement("li");
      li.dataset.word = words[w];
      li.dataset.cosine = pair[1].toFixed(4);
      li.textContent = words[w] + "  " + pair[1].toFixed(4);
      li.addEventListener("click", function (ev) {
        search.value = ev.currentTarget.dataset.word;
        find(ev.currentTarget.dataset.word);
      });
      list.appendChild(li);
    });
    var note = sourceText(res);
    panelTitle.textContent = res.token + " (" + note + ")";
    window.explorer.note = note;
    window.explorer.neighbours = found;
    var qx = 0, qy = 0, m = Math.min(3, best.length);
    if (res.self >= 0) { qx = xy[2 * res.self]; qy = xy[2 * res.self + 1]; selected = res.self; }
    else {
      for (var j = 0; j < m; j++) { qx += xy[2 * best[j][0]]; qy += xy[2 * best[j][0] + 1]; }
      qx = m ? qx / m : view.cx;
      qy = m ? qy / m : view.cy;
    }
    query = { x: qx, y: qy, label: res.token };
    view.cx = qx;
    view.cy = qy;
    redraw();
  }
  function show(i) { search.value = words[i]; find(words[i]); }  // exact spelling: word i
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
    clearSearch();
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
      else if (hit) show(hit.word);
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
    var r = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    redraw();
  }, { passive: false });
  document.getElementById("reset").addEventListener("click", function () { resetView(); redraw(); });

  // keyboard: + / - zoom about the centre, arrows pan (a tenth of the view), 0 resets; not while
  // typing in the search box
  function zoomAt(factor, mx, my) {  // keep the data point under (mx, my) in place
    var wx = view.cx + (mx - width / 2) / view.scale, wy = view.cy - (my - height / 2) / view.scale;
    view.scale *= factor;
    view.cx = wx - (mx - width / 2) / view.scale;
    view.cy = wy + (my - height / 2) / view.scale;
  }
  var PAN = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  window.addEventListener("keydown", function (ev) {
    if (ev.target === search || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "+" || ev.key === "=") zoomAt(1.25, width / 2, height / 2);
    else if (ev.key === "-" || ev.key === "_") zoomAt(0.8, width / 2, height / 2);
    else if (ev.key === "0") resetView();
    else if (PAN[ev.key]) {
      view.cx += PAN[ev.key][0] * 0.1 * width / view.scale;
      view.cy += PAN[ev.key][1] * 0.1 * height / view.scale;
    } else return;
    ev.preventDefault();
    redraw();
  });

  // touch: one finger pans, two fingers pinch-zoom about their midpoint
  var touch = null;
  function touchState(ev) {
    var r = canvas.getBoundingClientRect(), t = ev.touches;
    if (t.length === 1) return { n: 1, x: t[0].clientX - r.left, y: t[0].clientY - r.top };
    var ax = t[0].clientX - r.left, ay = t[0].clientY - r.top;
    var bx = t[1].clientX - r.left, by = t[1].clientY - r.top;
    return { n: 2, x: (ax + bx) / 2, y: (ay + by) / 2, d: Math.hypot(ax - bx, ay - by) };
  }
  canvas.addEventListener("touchstart", function (ev) {
    ev.preventDefault();
    touch = ev.touches.length ? touchState(ev) : null;
  }, { passive: false });
  canvas.addEventListener("touchmove", function (ev) {
    ev.preventDefault();
    if (!touch || !ev.touches.length) return;
    var now = touchState(ev);
    if (now.n === touch.n) {
      view.cx -= (now.x - touch.x) / view.scale;
      view.cy += (now.y - touch.y) / view.scale;
      if (now.n === 2 && touch.d > 0) zoomAt(now.d / touch.d, now.x, now.y);
      redraw();
    }
    touch = now;
  }, { passive: false });
  canvas.addEventListener("touchend", function (ev) {
    touch = ev.touches.length ? touchState(ev) : null;
  });
  window.addEventListener("resize", function () { resize(); redraw(); });

  window.explorer.find = find;
  window.explorer.tokenize = tokenize;
  window.explorer.strip = pyStrip;
  window.explorer.buckets = function (word) { return sub ? ngramBuckets(word) : []; };
  window.explorer.explain = explain;
  window.explorer.screenOf = function (i) { return [sx(xy[2 * i]), sy(xy[2 * i + 1]), width, height]; };
  window.explorer.zoom = function (factor) { view.scale *= factor; draw(); };
  window.explorer.view = function () { return { cx: view.cx, cy: view.cy, scale: view.scale }; };
  resize();
  resetView();
  draw();
  document.body.dataset.ready = "1";
})();

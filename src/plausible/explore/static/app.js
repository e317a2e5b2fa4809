// plausible explorer: vanilla JS, no dependencies. Talks to the local server's /api/*.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_VISIBLE_SLIDERS = 10;
const DREAM_SEGMENT_MS = 1700;
const HYPOTHESES = 8;

const state = {
  info: null,
  u: [],              // latent values in prior standard deviations
  visible: [],        // dimensions with a slider
  sliders: new Map(), // dimension -> {input, output, row}
  condition: null,    // test example index of conditional models
  padX: 0,
  padY: 1,
  dreaming: false,
  dream: null,
  trail: [],
  lastImage: "",
  latencies: [],
};

// ---------------------------------------------------------------- server calls
async function api(name, body) {
  const t0 = performance.now();
  const response = await fetch("api/" + name, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  let data;
  try {
    data = await response.json();
  } catch (err) {
    throw new Error(`${name}: the server answered ${response.status} without JSON`);
  }
  if (!response.ok) throw new Error(data.error || `${name}: HTTP ${response.status}`);
  data.roundTripMs = performance.now() - t0;
  return data;
}

function showError(err) {
  const box = $("error");
  box.textContent = String(err && err.message ? err.message : err);
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

function recordLatency(ms) {
  state.latencies.push(ms);
  if (state.latencies.length > 30) state.latencies.shift();
  const sorted = [...state.latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const status = $("status");
  status.dataset.latency = ms.toFixed(2);
  status.textContent = `round trip ${ms.toFixed(1)} ms · median ${median.toFixed(1)} ms (last ${sorted.length})`;
}

// Latest-wins decoding: while one request is in flight, only the newest z waits behind it.
let decodeWanted = false;
let decodeBusy = false;

function requestDecode() {
  decodeWanted = true;
  if (!decodeBusy) pumpDecode();
}

async function pumpDecode() {
  decodeBusy = true;
  while (decodeWanted) {
    decodeWanted = false;
    const body = { z: state.u.map((v) => Math.round(v * 1e4) / 1e4) };
    if (state.info.kind === "conditional") body.condition = state.condition;
    try {
      const result = await api("decode", body);
      showOutput(result);
      recordLatency(result.roundTripMs);
      clearError();
    } catch (err) {
      showError(err);
    }
  }
  decodeBusy = false;
}

// ---------------------------------------------------------------- output
function showOutput(result) {
  if (result.image) {
    const img = $("output");
    if (img.src !== result.image) img.src = result.image;
    state.lastImage = result.image;
  } else if (result.values) {
    drawBars($("output-values"), result.values);
  }
}

function drawBars(canvas, values) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, w, h);
  const top = Math.max(1e-6, ...values.map(Math.abs));
  const bw = w / values.length;
  ctx.strokeStyle = "#323b57";
  ctx.beginPath(); ctx.moveTo(0, h / 2); ctx.lineTo(w, h / 2); ctx.stroke();
  ctx.fillStyle = "#ffc86e";
  values.forEach((v, i) => {
    const bar = (v / top) * (h / 2 - 8);
    ctx.fillRect(i * bw + 1, h / 2 - Math.max(bar, 0), Math.max(1, bw - 2), Math.abs(bar));
  });
}

// ---------------------------------------------------------------- sliders
function dimLabel(d) {
  const kl = state.info.kl;
  return kl ? `z${d} · KL ${kl[d].toFixed(2)}` : `z${d}`;
}

function buildSliders() {
  const box = $("sliders");
  box.replaceChildren();
  state.sliders.clear();
  const range = state.info.slider_range;
  for (const d of state.visible) {
    const row = document.createElement("div");
    row.className = "slider-row";
    const label = document.createElement("label");
    label.htmlFor = `z-${d}`;
    label.textContent = `z${d}`;
    if (state.info.kl) {
      const kl = document.createElement("span");
      kl.className = "kl";
      kl.textContent = `KL ${state.info.kl[d].toFixed(2)}`;
      kl.title = `${state.info.kl_divergence} in nats, averaged over test examples`;
      label.appendChild(kl);
    }
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id: `z-${d}`, min: -range, max: range, step: 0.01 });
    input.value = state.u[d];
    input.dataset.dim = d;
    const output = document.createElement("output");
    output.htmlFor = input.id;
    input.addEventListener("input", () => {
      stopDream();
      forgetInput();
      state.u[d] = Number(input.value);
      output.textContent = fmt(state.u[d]);
      drawPad();
      requestDecode();
    });
    row.append(label, input, output);
    box.appendChild(row);
    state.sliders.set(d, { input, output, row });
  }
  fillMoreSelect();
  syncSliders();
}

function fillMoreSelect() {
  const hidden = state.info.order.filter((d) => !state.visible.includes(d));
  const select = $("more");
  $("more-field").hidden = hidden.length === 0;
  select.replaceChildren(new Option(`${hidden.length} more…`, ""));
  if (hidden.length > 1) select.add(new Option("show all", "all"));
  for (const d of hidden) select.add(new Option(dimLabel(d), String(d)));
}

function fmt(v) {
  return (v >= 0 ? "+" : "") + v.toFixed(2);
}

function syncSliders() {
  for (const [d, s] of state.sliders) {
    s.input.value = state.u[d];
    s.output.textContent = fmt(state.u[d]);
    s.row.classList.toggle("on-pad", d === state.padX || d === state.padY);
  }
}

function setU(u) {
  state.u = u.slice();
  syncSliders();
  drawPad();
  requestDecode();
}

// ---------------------------------------------------------------- 2-D pad
function padScale() {
  const canvas = $("pad");
  const range = state.info.slider_range;
  return { canvas, range, w: canvas.width, h: canvas.height };
}

function drawPad() {
  if ($("pad-panel").hidden) return;
  const { canvas, range, w, h } = padScale();
  const ctx = canvas.getContext("2d");
  const cx = w / 2, cy = h / 2, unit = (w / 2 - 6) / range;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#0b0f1c";
  ctx.fillRect(0, 0, w, h);
  // Prior density as a soft radial glow, then rings at 1, 2, 3 standard deviations.
  const glow = ctx.createRadialGradient(cx, cy, 0, cx, cy, unit * 2.5);
  glow.addColorStop(0, "rgba(122,162,255,0.20)");
  glow.addColorStop(1, "rgba(122,162,255,0)");
  ctx.fillStyle = glow;
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#2a3350";
  ctx.lineWidth = 1;
  for (let r = 1; r <= 3; r++) {
    ctx.beginPath(); ctx.arc(cx, cy, r * unit, 0, 2 * Math.PI); ctx.stroke();
  }
  ctx.beginPath(); ctx.moveTo(0, cy); ctx.lineTo(w, cy); ctx.moveTo(cx, 0); ctx.lineTo(cx, h); ctx.stroke();
  ctx.fillStyle = "#5d6782";
  ctx.font = "11px sans-serif";
  ctx.fillText(`z${state.padX} →`, w - 44, cy - 6);
  ctx.fillText(`↑ z${state.padY}`, cx + 6, 14);
  // Dream trail.
  if (state.trail.length > 1) {
    ctx.strokeStyle = "rgba(255,200,110,0.6)";
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.beginPath();
    state.trail.forEach(([a, b], i) => {
      const px = cx + a * unit, py = cy - b * unit;
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  }
  const px = cx + state.u[state.padX] * unit, py = cy - state.u[state.padY] * unit;
  ctx.fillStyle = "#ffc86e";
  ctx.beginPath(); ctx.arc(px, py, 6, 0, 2 * Math.PI); ctx.fill();
  ctx.strokeStyle = "#1b1405"; ctx.lineWidth = 2; ctx.stroke();
}

function padEvent(event) {
  const { canvas, range, w } = padScale();
  const rect = canvas.getBoundingClientRect();
  const unit = (w / 2 - 6) / range;
  const x = ((event.clientX - rect.left) / rect.width) * w;
  const y = ((event.clientY - rect.top) / rect.height) * canvas.height;
  const clamp = (v) => Math.max(-range, Math.min(range, v));
  state.u[state.padX] = clamp((x - w / 2) / unit);
  state.u[state.padY] = clamp((canvas.height / 2 - y) / unit);
  syncSliders();
  drawPad();
  requestDecode();
}

function setupPad() {
  const canvas = $("pad");
  let dragging = false;
  canvas.addEventListener("pointerdown", (e) => {
    stopDream();
    forgetInput();
    dragging = true;
    canvas.setPointerCapture(e.pointerId);
    padEvent(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (dragging) padEvent(e); });
  const end = () => { dragging = false; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  const fill = (select, chosen) => {
    select.replaceChildren();
    for (const d of state.info.order) select.add(new Option(dimLabel(d), String(d), false, d === chosen));
  };
  fill($("pad-x"), state.padX);
  fill($("pad-y"), state.padY);
  const change = (which) => (e) => {
    const d = Number(e.target.value);
    const other = which === "padX" ? state.padY : state.padX;
    if (d === other) {  // keep the two axes different: swap them
      state[which === "padX" ? "padY" : "padX"] = state[which];
    }
    state[which] = d;
    $("pad-x").value = String(state.padX);
    $("pad-y").value = String(state.padY);
    state.trail = [];
    syncSliders();
    drawPad();
  };
  $("pad-x").addEventListener("change", change("padX"));
  $("pad-y").addEventListener("change", change("padY"));
}

// ---------------------------------------------------------------- dream mode
// A walk through the prior: u(s) = cos(pi s / 2) a + sin(pi s / 2) b between independent draws
// a, b ~ N(0, I). Every point of the path is again N(0, I), so the dream never leaves the region
// the model was trained on; smoothstep easing makes it rest briefly on each fantasy.
function gaussian() {
  let a = 0;
  while (a === 0) a = Math.random();
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * Math.random());
}

function priorDraw() {
  const range = state.info.slider_range;
  return state.u.map(() => Math.max(-range, Math.min(range, gaussian())));
}

function setDreaming(on) {
  state.dreaming = on;
  document.body.dataset.dreaming = String(on);
  $("dream").setAttribute("aria-pressed", String(on));
  if (on) {
    forgetInput(); // the walk leaves the encoded example at once: its caption would be stale
    state.dream = { from: state.u.slice(), to: priorDraw(), start: performance.now() };
    state.trail = [];
    requestAnimationFrame(dreamFrame);
  }
}

function stopDream() {
  if (state.dreaming) setDreaming(false);
}

function dreamFrame(now) {
  if (!state.dreaming) return;
  const dream = state.dream;
  let s = (now - dream.start) / DREAM_SEGMENT_MS;
  if (s >= 1) {
    dream.from = dream.to;
    dream.to = priorDraw();
    dream.start = now;
    s = 0;
  }
  const eased = s * s * (3 - 2 * s);
  const c = Math.cos((Math.PI / 2) * eased), n = Math.sin((Math.PI / 2) * eased);
  state.u = dream.from.map((a, i) => c * a + n * dream.to[i]);
  state.trail.push([state.u[state.padX], state.u[state.padY]]);
  if (state.trail.length > 240) state.trail.shift();
  syncSliders();
  drawPad();
  if (!decodeBusy) requestDecode(); // one request at a time: the frame rate follows the latency
  requestAnimationFrame(dreamFrame);
}

// ---------------------------------------------------------------- buttons
async function samplePrior() {
  stopDream();
  try {
    const body = state.info.kind === "conditional" ? { condition: state.condition } : {};
    const result = await api("sample", body);
    forgetInput();
    state.u = result.z;
    syncSliders();
    drawPad();
    showOutput(result);
    recordLatency(result.roundTripMs);
    clearError();
  } catch (err) {
    showError(err);
  }
}

async function fromData() {
  stopDream();
  const index = state.info.kind === "conditional"
    ? state.condition
    : Math.floor(Math.random() * state.info.examples);
  try {
    const result = await api("encode", { index });
    state.u = result.z;
    syncSliders();
    drawPad();
    showOutput(result);
    $("input-inset").hidden = !result.input;
    if (result.input) $("input-image").src = result.input;
    const label = result.label_name !== undefined ? ` (${result.label_name})` : "";
    $("input-note").textContent = state.info.kind === "conditional"
      ? `posterior mean of q(z|x,y) for the truth of test example ${index}`
      : `posterior mean of test example ${index}${label}`;
    clearError();
  } catch (err) {
    showError(err);
  }
}

// The inset and its note describe the z that From data set; whatever moves z on clears them.
function forgetInput() {
  $("input-note").textContent = "";
  $("input-inset").hidden = true;
}

function reset() {
  stopDream();
  state.trail = [];
  forgetInput();
  setU(state.u.map(() => 0));
}

function setupKeys() {
  document.addEventListener("keydown", (e) => {
    // Leave keys to form controls (space on a focused button is that button's click).
    if (e.target instanceof HTMLElement && e.target.closest("input, select, button, textarea")) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " ") { e.preventDefault(); setDreaming(!state.dreaming); }
    else if (e.key === "s") samplePrior();
    else if (e.key === "d" && !$("from-data").hidden) fromData();
    else if (e.key === "r") reset();
  });
}

// ---------------------------------------------------------------- conditions
async function chooseCondition(body) {
  try {
    const result = await api("condition", body);
    state.condition = result.index;
    if (state.info.latent_dim > 0) forgetInput(); // it named the previous condition
    $("example-index").value = String(result.index);
    if (result.label !== undefined && state.info.condition.classes) {
      $("class-select").value = String(result.label);
    }
    $("condition-figure").hidden = !result.condition;
    if (result.condition) $("condition-image").src = result.condition;
    $("truth-figure").hidden = !result.truth;
    if (result.truth) $("truth-image").src = result.truth;
    $("condition-label").textContent = result.label_name !== undefined
      ? `test example ${result.index}: ${result.label_name}` : `test example ${result.index}`;
    clearError();
    await loadHypotheses();
    if (state.info.latent_dim > 0) requestDecode();
  } catch (err) {
    showError(err);
  }
}

async function loadHypotheses() {
  const count = Math.min(HYPOTHESES, state.info.max_hypotheses);
  const result = await api("hypotheses", { condition: state.condition, count });
  const strip = $("hypotheses");
  strip.replaceChildren();
  for (const [i, src] of (result.images || []).entries()) {
    const img = document.createElement("img");
    img.className = "pixel";
    img.src = src;
    img.alt = `hypothesis ${i + 1}`;
    strip.appendChild(img);
  }
  for (const values of result.valuess || []) {
    const canvas = document.createElement("canvas");
    canvas.width = 120; canvas.height = 120;
    drawBars(canvas, values);
    strip.appendChild(canvas);
  }
}

function setupCondition() {
  const info = state.info;
  $("condition-panel").hidden = false;
  const classes = info.condition.classes;
  if (classes) {
    $("class-field").hidden = false;
    const select = $("class-select");
    classes.forEach((name, i) => select.add(new Option(name, String(i))));
    select.addEventListener("change", () => chooseCondition({ label: Number(select.value) }));
  }
  const index = $("example-index");
  index.max = String(info.examples - 1);
  index.addEventListener("change", () => {
    const i = Math.max(0, Math.min(info.examples - 1, Math.round(Number(index.value) || 0)));
    chooseCondition({ index: i });
  });
  const step = (delta) => () =>
    chooseCondition({ index: (state.condition + delta + info.examples) % info.examples });
  $("example-prev").addEventListener("click", step(-1));
  $("example-next").addEventListener("click", step(1));
  $("example-random").addEventListener("click", () =>
    chooseCondition({ index: Math.floor(Math.random() * info.examples) }));
  $("hypotheses-resample").addEventListener("click", () => loadHypotheses().catch(showError));
}

// ---------------------------------------------------------------- density models
const density = { x: 0, index: 0, dims: [0], busy: false, wanted: false, sweeping: false, last: null };

function requestDensity() {
  density.wanted = true;
  if (!density.busy) pumpDensity();
}

async function pumpDensity() {
  density.busy = true;
  while (density.wanted) {
    density.wanted = false;
    const info = state.info;
    const body = { dims: density.dims };
    if (info.input.kind === "scalar") body.x = density.x; else body.index = density.index;
    try {
      const result = await api("density", body);
      density.last = result;
      drawDensity(result);
      $("density-status").textContent = `round trip ${result.roundTripMs.toFixed(1)} ms`;
      $("density-status").dataset.latency = result.roundTripMs.toFixed(2);
      clearError();
    } catch (err) {
      showError(err);
    }
  }
  density.busy = false;
}

// Plot margins in canvas pixels: room on the left and below for tick values.
const MARGIN = { left: 46, right: 12, top: 22, bottom: 34 };

// About `count` round tick values (steps of 1, 2 or 5 times a power of ten) inside [low, high].
function niceTicks(low, high, count = 5) {
  const span = high - low;
  if (!(span > 0)) return { ticks: [low], digits: 2 };
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const ratio = raw / power;
  const step = power * (ratio >= 7.5 ? 10 : ratio >= 3.5 ? 5 : ratio >= 1.5 ? 2 : 1);
  const ticks = [];
  for (let v = Math.ceil(low / step - 1e-9) * step; v <= high + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return { ticks, digits: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) };
}

// Frame, then tick marks and values on the left (vertical axis) and below (horizontal axis).
// The values drawn are kept on the canvas (data-x-ticks, data-y-ticks) for tests to read.
function axes(ctx, canvas, vertical, horizontal) {
  const w = canvas.width, h = canvas.height, m = MARGIN;
  ctx.fillStyle = "#0b0f1c";
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#2a3350";
  ctx.lineWidth = 1;
  ctx.strokeRect(m.left, m.top, w - m.left - m.right, h - m.top - m.bottom);
  ctx.fillStyle = "#8a93ab"; ctx.font = "11px sans-serif";
  const v = niceTicks(vertical.low, vertical.high);
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const t of v.ticks) {
    const y = vertical.to(t);
    ctx.beginPath(); ctx.moveTo(m.left - 4, y); ctx.lineTo(m.left, y); ctx.stroke();
    ctx.fillText(t.toFixed(v.digits), m.left - 6, y);
  }
  const hz = niceTicks(horizontal.low, horizontal.high);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const t of hz.ticks) {
    const x = horizontal.to(t);
    ctx.beginPath(); ctx.moveTo(x, h - m.bottom); ctx.lineTo(x, h - m.bottom + 4); ctx.stroke();
    ctx.fillText(t.toFixed(hz.digits), x, h - m.bottom + 6);
  }
  ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";
  ctx.fillText(vertical.label, 6, m.top - 8);
  ctx.textAlign = "right";
  ctx.fillText(horizontal.label, w - m.right, h - 4);
  ctx.textAlign = "left";
  canvas.dataset.yTicks = v.ticks.map((t) => t.toFixed(v.digits)).join(",");
  canvas.dataset.xTicks = hz.ticks.map((t) => t.toFixed(hz.digits)).join(",");
}

function drawJoint(result) {
  const info = state.info;
  const canvas = $("joint"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, m = MARGIN;
  const [xl, xh] = info.x_range[0], [yl, yh] = info.y_range[0];
  const X = (v) => m.left + ((v - xl) / (xh - xl)) * (w - m.left - m.right);
  const Y = (v) => h - m.bottom - ((v - yl) / (yh - yl)) * (h - m.top - m.bottom);
  axes(ctx, canvas, { low: yl, high: yh, to: Y, label: "y" }, { low: xl, high: xh, to: X, label: "x" });
  ctx.fillStyle = "rgba(122,162,255,0.55)";
  for (const [a, b] of info.scatter) { ctx.beginPath(); ctx.arc(X(a), Y(b), 2, 0, 2 * Math.PI); ctx.fill(); }
  ctx.strokeStyle = "#ffc86e"; ctx.lineWidth = 2;
  ctx.beginPath(); ctx.moveTo(X(result.x[0]), m.top); ctx.lineTo(X(result.x[0]), h - m.bottom); ctx.stroke();
  ctx.lineWidth = 1;
  for (const hyp of result.hypotheses || []) {
    ctx.fillStyle = "#ffc86e";
    ctx.beginPath(); ctx.arc(X(result.x[0]), Y(hyp.y[0]), 3 + 9 * Math.sqrt(hyp.weight), 0, 2 * Math.PI); ctx.fill();
  }
}

function drawCurve(result) {
  const info = state.info;
  const canvas = $("curve"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, m = MARGIN;
  const [yl, yh] = info.y_range[result.dims[0]];
  const Y = (v) => h - m.bottom - ((v - yl) / (yh - yl)) * (h - m.top - m.bottom);
  const top = Math.max(1e-9, ...result.density);
  const D = (p) => m.left + (p / top) * (w - m.left - m.right);
  axes(
    ctx, canvas,
    { low: yl, high: yh, to: Y, label: `y${result.dims[0]}` },
    { low: 0, high: top, to: D, label: `p(y${result.dims[0]} | x)` },
  );
  ctx.beginPath();
  ctx.moveTo(D(0), Y(result.y[0]));
  result.y.forEach((y, i) => ctx.lineTo(D(result.density[i]), Y(y)));
  ctx.lineTo(D(0), Y(result.y[result.y.length - 1]));
  ctx.closePath();
  ctx.fillStyle = "rgba(255,200,110,0.25)"; ctx.fill();
  ctx.strokeStyle = "#ffc86e"; ctx.lineWidth = 2; ctx.stroke();
  ctx.lineWidth = 1;
  for (const hyp of result.hypotheses || []) {
    ctx.strokeStyle = "rgba(122,162,255,0.9)";
    ctx.beginPath(); ctx.moveTo(m.left, Y(hyp.y[0])); ctx.lineTo(w - m.right, Y(hyp.y[0])); ctx.stroke();
  }
  if (result.truth) {
    ctx.fillStyle = "#ff7a8a";
    ctx.beginPath(); ctx.arc(m.left + 6, Y(result.truth[0]), 5, 0, 2 * Math.PI); ctx.fill();
  }
}

function drawHeat(result) {
  $("heat").src = result.image;
  const canvas = $("heat-overlay"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  const [[al, ah], [bl, bh]] = result.extent;
  const X = (v) => ((v - al) / (ah - al)) * w, Y = (v) => h - ((v - bl) / (bh - bl)) * h;
  ctx.clearRect(0, 0, w, h);
  for (const hyp of result.hypotheses || []) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(X(hyp.y[0]), Y(hyp.y[1]), 3 + 9 * Math.sqrt(hyp.weight), 0, 2 * Math.PI); ctx.stroke();
  }
  if (result.truth) {
    ctx.fillStyle = "#ff7a8a";
    ctx.beginPath(); ctx.arc(X(result.truth[0]), Y(result.truth[1]), 5, 0, 2 * Math.PI); ctx.fill();
  }
  $("heat-caption").textContent =
    `p(y${result.dims[0]}, y${result.dims[1]} | x) on [${al}, ${ah}] × [${bl}, ${bh}]; circles: component means`;
}

function drawDensity(result) {
  if (result.dims.length === 1) {
    if (state.info.scatter) drawJoint(result);
    drawCurve(result);
  } else {
    drawHeat(result);
  }
}

function sweepFrame(now) {
  if (!density.sweeping) return;
  const [low, high] = [state.info.input.low, state.info.input.high];
  const s = 0.5 - 0.5 * Math.cos((2 * Math.PI * now) / 8000);
  density.x = low + s * (high - low);
  $("x-input").value = String(density.x);
  $("x-value").textContent = density.x.toFixed(3);
  if (!density.busy) requestDensity();
  requestAnimationFrame(sweepFrame);
}

function setSweeping(on) {
  density.sweeping = on;
  document.body.dataset.dreaming = String(on);
  $("sweep").setAttribute("aria-pressed", String(on));
  if (on) requestAnimationFrame(sweepFrame);
}

function setupDensity() {
  const info = state.info;
  $("density-panel").hidden = false;
  $("run-meta").textContent += ` · x: ${info.x_dim}-D · y: ${info.y_dim}-D`;
  density.dims = info.y_dim >= 2 ? [0, 1] : [0];
  if (info.input.kind === "scalar") {
    const input = $("x-input");
    $("x-field").hidden = false;
    Object.assign(input, { min: info.input.low, max: info.input.high, step: (info.input.high - info.input.low) / 1000 });
    density.x = (info.input.low + info.input.high) / 2;
    input.value = String(density.x);
    $("x-value").textContent = density.x.toFixed(3);
    input.addEventListener("input", () => {
      setSweeping(false);
      density.x = Number(input.value);
      $("x-value").textContent = density.x.toFixed(3);
      requestDensity();
    });
    $("sweep").addEventListener("click", () => setSweeping(!density.sweeping));
  } else {
    $("sweep").hidden = true;
    $("index-field").hidden = false;
    const index = $("density-index");
    index.max = String(info.examples - 1);
    const pick = (i) => { density.index = i; index.value = String(i); requestDensity(); };
    index.addEventListener("change", () => pick(Math.max(0, Math.min(info.examples - 1, Math.round(Number(index.value) || 0)))));
    $("density-random").addEventListener("click", () => pick(Math.floor(Math.random() * info.examples)));
  }
  if (info.y_dim > 2) {
    $("dims-field").hidden = false;
    for (const id of ["dim-a", "dim-b"]) {
      const select = $(id);
      select.add(new Option("—", "")); // an empty second choice shows one dimension
      for (let d = 0; d < info.y_dim; d++) select.add(new Option(`y${d}`, String(d)));
    }
    $("dim-a").value = "0"; $("dim-b").value = "1";
    const change = () => {
      const a = $("dim-a").value, b = $("dim-b").value;
      const dims = [a, b].filter((v) => v !== "").map(Number);
      if (dims.length === 0 || (dims.length === 2 && dims[0] === dims[1])) return;
      density.dims = dims;
      showDensityFigures();
      requestDensity();
    };
    $("dim-a").addEventListener("change", change);
    $("dim-b").addEventListener("change", change);
  }
  showDensityFigures();
  requestDensity();
}

function showDensityFigures() {
  const one = density.dims.length === 1;
  $("joint-figure").hidden = !(one && state.info.scatter);
  $("curve-figure").hidden = !one;
  $("heat-figure").hidden = one;
}

// ---------------------------------------------------------------- start-up
function setupLatent() {
  const info = state.info;
  state.u = new Array(info.latent_dim).fill(0);
  state.visible = info.order.slice(0, Math.min(MAX_VISIBLE_SLIDERS, info.latent_dim));
  state.padX = info.order[0];
  state.padY = info.order.length > 1 ? info.order[1] : info.order[0];
  $("stage-panel").hidden = false;
  $("sliders-panel").hidden = false;
  $("pad-panel").hidden = info.latent_dim < 2;
  // The server names the divergence it measured: KL(q(z|x,y) ‖ p(z|x)) for a CVAE.
  $("slider-hint").textContent = info.kl ? `ordered by ${info.kl_divergence}, nats` : "";
  if (info.kind === "conditional") {
    document.querySelector("#stage-panel h2 .hint").textContent = info.condition.composite
      ? "mean of p(y|x,z), imagined pixels in amber" : "mean of p(y|x,z)";
    $("input-caption").textContent = "truth"; // From data encodes the truth y with q(z|x,y)
  }
  $("from-data").hidden = !info.endpoints.includes("encode");
  if (info.image) {
    $("output-frame").style.aspectRatio = `${info.image.width} / ${info.image.height}`;
  } else {
    $("output").hidden = true;
    $("output-values").hidden = false;
  }
  buildSliders();
  setupPad();
  $("more").addEventListener("change", (e) => {
    const value = e.target.value;
    if (value === "all") state.visible = info.order.slice();
    else if (value !== "") state.visible.push(Number(value));
    buildSliders();
  });
  $("dream").addEventListener("click", () => setDreaming(!state.dreaming));
  $("sample").addEventListener("click", samplePrior);
  $("from-data").addEventListener("click", fromData);
  $("reset").addEventListener("click", reset);
  setupKeys();
  drawPad();
}

async function start() {
  let info;
  try {
    const response = await fetch("api/info");
    info = await response.json();
    if (!response.ok) throw new Error(info.error || `HTTP ${response.status}`);
  } catch (err) {
    showError(`cannot load the model's description: ${err.message || err}`);
    return;
  }
  state.info = info;
  document.body.dataset.kind = info.kind;
  document.title = `${info.title} · plausible explorer`;
  $("run-title").textContent = info.title;
  const kindText = { latent: "latent-variable model", conditional: "conditional model", density: "conditional density" }[info.kind];
  const parts = [`${info.model} (${kindText})`];
  if (info.latent_dim) parts.push(`${info.latent_dim} latent dimensions`);
  if (info.image) parts.push(`${info.image.width}×${info.image.height} output`);
  if (info.description) parts.push(info.description);
  $("run-meta").textContent = parts.join(" · ");
  if (info.kind === "density") {
    setupDensity();
    document.body.dataset.ready = "true";
    return;
  }
  if (info.latent_dim > 0) setupLatent();
  if (info.kind === "conditional") {
    setupCondition();
    await chooseCondition({ index: 0 });
  } else {
    requestDecode();
  }
  document.body.dataset.ready = "true";
}

window.addEventListener("error", (e) => showError(`page error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => showError(`page error: ${e.reason}`));
window.addEventListener("DOMContentLoaded", start);

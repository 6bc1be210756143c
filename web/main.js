// The demo page: Muon + AdamW against AdamW alone, trained live on WebGPU by muon-wgpu (wasm).
//
// URL options: ?mode=digits|image|gpt|tfjs (tfjs: web/tfjs-demo.js, loaded only then), ?autorun=N (train N steps without clicks, then stop),
// ?hidden=128,128, ?batch=64, ?seed=0, ?muonLr=0.01, ?auxLr=0.01, ?adamwLr=0.01;
// ?mode=gpt also ?context=64, ?heads=4, ?layers=2 (?hidden=64 is its width).
// Test hook: window.muonDemo (see `demo` below).

import init, { adapterInfo, defaultImage, DigitsRace, GptRace, ImageRace } from "./pkg/muon_wgpu.js";
import { loadData } from "./assets.js";
import { LineChart, smooth } from "./chart.js";

const COLORS = { muon: "#d62728", adamw: "#1f77b4" };
const RUNS = ["muon", "adamw"];
const IMAGE_SIZE = 64;
const EVAL_EVERY = 10;

const params = new URLSearchParams(location.search);
const autorun = Math.max(0, parseInt(params.get("autorun") ?? "0", 10) || 0);

// What tests and curious users can read: the state of the running mode.
const demo = {
  ready: false,
  step: 0,
  loss: { muon: null, adamw: null },
  accuracy: { muon: null, adamw: null },
  error: null,
  // Everything below is extra to the contract.
  mode: null,
  done: false,
  adapter: null,
  stepsPerSecond: null,
  psnr: { muon: null, adamw: null },
  losses: { muon: [], adamw: [] },
  // "Write like Shakespeare" (?mode=gpt): validation losses, training tokens/s, samples.
  valLoss: { muon: null, adamw: null },
  tokensPerSecond: null,
  samples: { muon: null, adamw: null },
};
window.muonDemo = demo;

const $ = (id) => document.getElementById(id);

function showFailure(message) {
  demo.error = String(message);
  const box = $("failure");
  box.hidden = false;
  box.innerHTML = "<h2>Something went wrong</h2>";
  box.append(document.createTextNode(String(message)));
}

window.addEventListener("error", (e) => showFailure(e.error?.message ?? e.message));
window.addEventListener("unhandledrejection", (e) => showFailure(e.reason?.message ?? e.reason));

function explainMissingWebGpu(reason) {
  const box = $("unsupported");
  box.hidden = false;
  box.innerHTML = `
    <h2>This demo needs WebGPU</h2>
    <p><b>What is missing:</b> ${reason}</p>
    <p><b>How to get it:</b></p>
    <ul>
      <li>Chrome or Edge 113+ on Windows, macOS or ChromeOS, Chrome 121+ on Android: WebGPU is on by default.</li>
      <li>Chrome on Linux: start it with <code>--enable-unsafe-webgpu --enable-features=Vulkan</code>
        (or turn on <code>chrome://flags/#enable-unsafe-webgpu</code>), with a Vulkan driver installed.</li>
      <li>Safari 26+ (macOS, iOS), Firefox 141+ on Windows (Nightly elsewhere, or <code>dom.webgpu.enabled</code> in <code>about:config</code>).</li>
      <li>WebGPU only exists in a secure context: open the page over <code>https://</code> or from
        <code>http://localhost</code> / <code>http://127.0.0.1</code> (<code>scripts/web.sh</code> serves it there), not from <code>file://</code>.</li>
      <li><code>chrome://gpu</code> tells whether your GPU is blocklisted.</li>
    </ul>`;
  $("adapter").textContent = "No WebGPU adapter.";
  const text = document.createElement("p");
  text.innerHTML = reason;
  demo.error = `WebGPU unavailable: ${text.textContent}`;
}

function numberParam(name, fallback) {
  const v = params.get(name);
  return v === null || v === "" || !Number.isFinite(Number(v)) ? fallback : Number(v);
}

function widthsParam() {
  const v = params.get("hidden");
  if (!v) return null;
  const widths = v.split(",").map((s) => parseInt(s, 10));
  return widths.every((x) => x > 0) ? widths : null;
}

function fmt(v, digits = 4) {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

// One training mode: its session (a DigitsRace or ImageRace), its history and its charts.
class Mode {
  constructor(name) {
    this.name = name;
    this.session = null;
    this.steps = 0;
    this.losses = { muon: [], adamw: [] };
    this.evals = { muon: [], adamw: [] }; // [step, loss, accuracy]
    this.psnr = { muon: null, adamw: null };
    this.pendingRates = null;
    this.stopAt = Infinity;
    // The digits' come from examples/train.rs --sweep, the image's from src/web/image.rs.
    this.lr = name === "digits" ? { muonLr: 0.01, auxLr: 0.01, adamwLr: 0.01 } : { muonLr: 0.02, auxLr: 0.003, adamwLr: 0.003 };
    // The GPT's come from examples/gpt.rs --sweep.
    if (name === "gpt") this.lr = { muonLr: GPT_RATES.muonLr, auxLr: GPT_RATES.auxLr, adamwLr: GPT_RATES.adamwLr };
    this.samples = { muon: null, adamw: null };
    this.sizeFor(false);
  }

  // Networks sized for the adapter: software WebGPU (SwiftShader, ~100x slower) gets small ones.
  sizeFor(software) {
    if (this.name === "gpt") {
      // `hidden` holds the model width; software adapters get a one-block model on short contexts.
      this.hidden = [software ? 32 : 64];
      this.gpt = software ? { context: 32, heads: 2, layers: 1 } : { context: 64, heads: 4, layers: 2 };
      this.batch = software ? 4 : 8;
      this.sampleLength = software ? 60 : 200;
    } else if (this.name === "digits") {
      this.hidden = software ? [64, 64] : [128, 128];
      this.batch = 64;
    } else {
      this.hidden = software ? [32, 32, 32] : [128, 128, 128];
      this.batch = software ? 256 : 512;
    }
  }

  // The learning-rate inputs show the current mode's rates.
  showRates() {
    for (const key of ["muonLr", "auxLr", "adamwLr"]) $(key).value = this.lr[key];
  }

  readRates() {
    return { muonLr: Number($("muonLr").value), auxLr: Number($("auxLr").value), adamwLr: Number($("adamwLr").value) };
  }

  async create() {
    const options = {
      hidden: this.hidden,
      batch: numberParam("batch", this.batch),
      seed: numberParam("seed", 0),
      ...this.lr,
    };
    if (this.name === "gpt") {
      await loadData("shakespeare.txt.gz");
      const { hidden, ...rest } = options;
      for (const key of ["context", "heads", "layers"]) this.gpt[key] = numberParam(key, this.gpt[key]);
      this.session = await GptRace.create({ ...rest, width: hidden[0], ...this.gpt });
      $("gptExplain").textContent =
        `A character-level GPT (${this.gpt.layers} block${this.gpt.layers > 1 ? "s" : ""} of causal ${this.gpt.heads}-head ` +
        `attention and a GELU MLP, width ${hidden[0]}, context ${this.gpt.context}; ` +
        `${this.session.parameterCount.toLocaleString("en")} parameters) learns to write from eight plays of Shakespeare, ` +
        `${options.batch} sequences (${this.session.tokensPerStep} characters) per step. ` +
        `Each step trains both models on the same batch; every ${EVAL_EVERY} steps both are evaluated on validation text and write.`;
      for (const run of RUNS) $(`gptSample${run === "muon" ? "Muon" : "Adamw"}`).textContent = "";
    } else if (this.name === "digits") {
      await loadData("digits.bin");
      this.session = await DigitsRace.create(options);
      $("digitsExplain").textContent =
        `The UCI handwritten digits (8×8 images, 1437 to train on, 360 to test), an MLP ` +
        `${[64, ...this.hidden, 10].join("-")} (${this.session.parameterCount.toLocaleString("en")} parameters) ` +
        `with ReLU and softmax cross-entropy, minibatches of ${options.batch}. ` +
        `Each step trains both networks on the same minibatch.`;
    } else {
      this.session = await ImageRace.create(this.target ?? defaultImage(IMAGE_SIZE, IMAGE_SIZE), IMAGE_SIZE, IMAGE_SIZE, options);
      $("imageExplain").textContent =
        `Two coordinate networks learn the colour of every pixel of a ${IMAGE_SIZE}×${IMAGE_SIZE} image from its ` +
        `position: Fourier features of x and y → ${this.hidden.join("-")} ReLU → RGB, squared error, ` +
        `${options.batch} random pixels per step. Drop an image on the target to learn it instead.`;
      drawRgb($("targetCanvas"), this.target ?? defaultImage(IMAGE_SIZE, IMAGE_SIZE));
      $("muonCanvas").getContext("2d").clearRect(0, 0, IMAGE_SIZE, IMAGE_SIZE);
      $("adamwCanvas").getContext("2d").clearRect(0, 0, IMAGE_SIZE, IMAGE_SIZE);
    }
    this.steps = 0;
    this.losses = { muon: [], adamw: [] };
    this.evals = { muon: [], adamw: [] };
    this.psnr = { muon: null, adamw: null };
    this.samples = { muon: null, adamw: null };
  }

  dispose() {
    this.session?.free();
    this.session = null;
  }

  // Trains `n` steps of both runs and reads their losses back (the GPU sync point).
  async train(n) {
    this.session.train(n);
    const l = await this.session.readLosses();
    for (const run of RUNS) this.losses[run].push(...l[run]);
    this.steps += n;
  }

  async evaluate() {
    if (this.name === "image") return;
    const m = await this.session.evaluate();
    for (const run of RUNS) this.evals[run].push([this.steps, m[run].loss, m[run].accuracy]);
    if (this.name === "gpt") this.samples = await this.session.sample(this.sampleLength, 0.8, this.steps);
  }

  async reconstruct() {
    if (this.name !== "image") return;
    const t0 = performance.now();
    const p = await this.session.predict();
    this.predictMs = performance.now() - t0;
    const target = this.target ?? defaultImage(IMAGE_SIZE, IMAGE_SIZE);
    for (const run of RUNS) {
      drawRgb($(`${run}Canvas`), p[run]);
      let se = 0;
      for (let i = 0; i < target.length; i++) {
        const d = Math.min(1, Math.max(0, p[run][i])) - target[i];
        se += d * d;
      }
      this.psnr[run] = -10 * Math.log10(Math.max(1e-10, se / target.length));
    }
  }
}

function drawRgb(canvas, rgb) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let p = 0; p < canvas.width * canvas.height; p++) {
    for (let c = 0; c < 3; c++) img.data[4 * p + c] = Math.round(255 * Math.min(1, Math.max(0, rgb[3 * p + c])));
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// An image file → IMAGE_SIZE² RGB values in [0, 1], centre-cropped to a square.
async function imageToRgb(file) {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = IMAGE_SIZE;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, IMAGE_SIZE, IMAGE_SIZE);
  const data = ctx.getImageData(0, 0, IMAGE_SIZE, IMAGE_SIZE).data;
  const rgb = new Float32Array(IMAGE_SIZE * IMAGE_SIZE * 3);
  for (let p = 0; p < IMAGE_SIZE * IMAGE_SIZE; p++) {
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = data[4 * p + c] / 255;
  }
  return rgb;
}

const GPT_RATES = { muonLr: 0.02, auxLr: 0.003, adamwLr: 0.003 };
const modes = { digits: new Mode("digits"), image: new Mode("image"), gpt: new Mode("gpt") };
let mode = modes[["image", "gpt"].includes(params.get("mode")) ? params.get("mode") : "digits"];
let running = false;
let loop = null; // the promise of the running training loop
let chunk = 2; // steps per submit, adapted to keep the page responsive
let speed = null;

const charts = {
  digitsLoss: new LineChart($("digitsLossChart"), { logY: true }),
  digitsAcc: new LineChart($("digitsAccChart"), { yMax: 100, yFormat: (v) => `${v}%`, legend: "bottom" }),
  imageLoss: new LineChart($("imageLossChart"), { logY: true }),
  gptLoss: new LineChart($("gptLossChart"), {}),
};

// At most ~1000 points per line: bucket means over long runs.
function thin(values) {
  const per = Math.max(1, Math.ceil(values.length / 1000));
  const out = [];
  for (let i = 0; i < values.length; i += per) {
    const bucket = values.slice(i, i + per);
    out.push([i + bucket.length, bucket.reduce((a, b) => a + b, 0) / bucket.length]);
  }
  return out;
}

function lossSeries(m) {
  const series = [];
  for (const run of RUNS) {
    const raw = m.losses[run];
    const name = run === "muon" ? "Muon + AdamW" : "AdamW";
    // Smoothing over about 5% of the run, at least a dozen steps.
    const alpha = Math.min(0.08, 20 / Math.max(1, raw.length));
    series.push({ color: COLORS[run], width: 1, alpha: 0.2, points: thin(raw) });
    series.push({ label: name, color: COLORS[run], width: 2.5, points: thin(smooth(raw, alpha)) });
  }
  return series;
}

function render() {
  const m = mode;
  const xMax = Math.max(Number.isFinite(m.stopAt) ? m.stopAt : 0, m.steps, 10);
  $("stepLabel").textContent = `step ${m.steps}${Number.isFinite(m.stopAt) ? ` / ${m.stopAt}` : ""}`;
  $("speed").textContent = speed ? `${speed.toFixed(1)} steps/s (each trains both networks)` : "";
  if (m.name === "gpt") {
    if (speed) $("speed").textContent += `, ${Math.round(2 * speed * m.session.tokensPerStep).toLocaleString("en")} tokens/s`;
    const series = lossSeries(m);
    for (const run of RUNS) {
      series.push({ color: COLORS[run], dots: true, points: m.evals[run].map(([s, loss]) => [s, loss]) });
    }
    charts.gptLoss.draw(series, xMax);
    for (const run of RUNS) {
      const key = run === "muon" ? "Muon" : "Adamw";
      const recent = m.losses[run].slice(-10);
      $(`gptLoss${key}`).textContent = recent.length ? fmt(recent.reduce((a, b) => a + b, 0) / recent.length, 3) : "–";
      const last = m.evals[run].at(-1);
      $(`gptVal${key}`).textContent = last ? `${fmt(last[1], 3)} (step ${last[0]})` : "–";
      if (m.samples[run] !== null) $(`gptSample${key}`).textContent = m.samples[run];
    }
  } else if (m.name === "digits") {
    const series = lossSeries(m);
    for (const run of RUNS) {
      series.push({ color: COLORS[run], dots: true, points: m.evals[run].map(([s, loss]) => [s, loss]) });
    }
    charts.digitsLoss.draw(series, xMax);
    const accs = RUNS.flatMap((run) => m.evals[run].map((e) => e[2] * 100));
    const lowest = accs.reduce((a, b) => Math.min(a, b), 100);
    const floor = Math.max(0, Math.floor((lowest - 5) / 10) * 10);
    charts.digitsAcc.options.yMin = floor;
    charts.digitsAcc.draw(
      RUNS.map((run) => ({
        label: run === "muon" ? "Muon + AdamW" : "AdamW",
        color: COLORS[run],
        width: 2.5,
        points: m.evals[run].map(([s, , acc]) => [s, acc * 100]),
      })),
      xMax,
    );
    for (const run of RUNS) {
      const key = run === "muon" ? "Muon" : "Adamw";
      const recent = m.losses[run].slice(-10);
      $(`digitsLoss${key}`).textContent = recent.length ? fmt(recent.reduce((a, b) => a + b, 0) / recent.length) : "–";
      const last = m.evals[run].at(-1);
      $(`digitsAcc${key}`).textContent = last ? `${(100 * last[2]).toFixed(1)}% (step ${last[0]})` : "–";
    }
  } else {
    charts.imageLoss.draw(lossSeries(m), xMax);
    $("psnrMuon").textContent = m.psnr.muon === null ? "" : `PSNR ${m.psnr.muon.toFixed(1)} dB`;
    $("psnrAdamw").textContent = m.psnr.adamw === null ? "" : `PSNR ${m.psnr.adamw.toFixed(1)} dB`;
  }
}

function publish() {
  const m = mode;
  demo.mode = m.name;
  demo.step = m.steps;
  demo.stepsPerSecond = speed;
  for (const run of RUNS) {
    demo.loss[run] = m.losses[run].at(-1) ?? null;
    demo.accuracy[run] = m.evals[run].at(-1)?.[2] ?? null;
    demo.psnr[run] = m.psnr[run];
    demo.losses[run] = m.losses[run];
    demo.valLoss[run] = m.name === "gpt" ? m.evals[run].at(-1)?.[1] ?? null : null;
    demo.samples[run] = m.name === "gpt" ? m.samples[run] : null;
  }
  // Both runs' training characters per second.
  demo.tokensPerSecond = m.name === "gpt" && speed ? 2 * speed * m.session.tokensPerStep : null;
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

async function trainLoop(m) {
  let lastDraw = 0;
  while (running && m === mode) {
    const target = m.stopAt;
    // Stop at evaluation points and at the autorun target.
    const toEval = m.name !== "image" ? EVAL_EVERY - (m.steps % EVAL_EVERY) : Infinity;
    const n = Math.min(chunk, toEval, target - m.steps);
    if (n <= 0) break;
    if (m.pendingRates) {
      const r = m.pendingRates;
      m.pendingRates = null;
      m.session.setLearningRates(r.muonLr, r.auxLr, r.adamwLr);
    }
    const t0 = performance.now();
    await m.train(n);
    const dt = performance.now() - t0;
    const rate = (1000 * n) / Math.max(dt, 1e-3);
    speed = speed === null ? rate : 0.8 * speed + 0.2 * rate;
    // About 100 ms of GPU work per submit keeps the page responsive.
    chunk = Math.max(1, Math.min(50, Math.round((n * 100) / Math.max(dt, 1))));
    if (m.steps % EVAL_EVERY === 0 || m.steps === target) await m.evaluate();
    const now = performance.now();
    // Drawing costs a forward pass over every pixel: at most a fifth of the time goes to it.
    const drawEvery = Math.max(250, 5 * (m.predictMs ?? 0));
    if (m.name === "image" && (now - lastDraw > drawEvery || m.steps === target)) {
      await m.reconstruct();
      lastDraw = now;
    }
    publish();
    render();
    await nextFrame();
  }
  if (m.steps >= m.stopAt) {
    // ?autorun is one run: Resume trains on.
    m.stopAt = Infinity;
    setRunning(false);
    demo.done = true;
  }
  publish();
  render();
}

function setRunning(on) {
  running = on;
  $("run").textContent = on ? "Pause" : mode.steps > 0 ? "Resume" : "Start";
  if (on && !loop) {
    loop = trainLoop(mode)
      .catch((e) => showFailure(e?.message ?? e))
      .finally(() => {
        loop = null;
        if (running) setRunning(false);
      });
  }
}

async function stopLoop() {
  running = false;
  if (loop) await loop;
}

async function reset() {
  await stopLoop();
  $("reset").disabled = true;
  mode.dispose();
  speed = null;
  await mode.create();
  $("reset").disabled = false;
  setRunning(false);
  publish();
  render();
}

function fillHiddenOptions() {
  const select = $("hidden");
  const choices = mode.name === "gpt"
    ? [[32], [64], [128]]
    : mode.name === "digits"
    ? [[64, 64], [128, 128], [256, 256], [256, 256, 256]]
    : [[64, 64, 64], [128, 128, 128], [256, 256, 256]];
  if (!choices.some((c) => c.join() === mode.hidden.join())) choices.push(mode.hidden);
  select.replaceChildren(
    ...choices.map((c) => {
      const o = new Option(c.join("-"), c.join());
      o.selected = c.join() === mode.hidden.join();
      return o;
    }),
  );
}

async function switchMode(name) {
  if (mode.name === name) return;
  await stopLoop();
  mode = modes[name];
  for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.mode === name));
  $("digits").hidden = name !== "digits";
  $("image").hidden = name !== "image";
  $("gpt").hidden = name !== "gpt";
  fillHiddenOptions();
  mode.showRates();
  speed = null;
  if (!mode.session) await mode.create();
  setRunning(false);
  publish();
  render();
}

function wireControls() {
  $("run").addEventListener("click", () => setRunning(!running));
  $("reset").addEventListener("click", () => reset().catch((e) => showFailure(e?.message ?? e)));
  for (const b of document.querySelectorAll(".tabs button")) {
    // The tfjs tab is its own page load: tfjs's modules and device setup stay out of the others.
    if (b.dataset.mode === "tfjs") b.addEventListener("click", () => (location.search = "?mode=tfjs"));
    else b.addEventListener("click", () => switchMode(b.dataset.mode).catch((e) => showFailure(e?.message ?? e)));
  }
  for (const id of ["muonLr", "auxLr", "adamwLr"]) {
    $(id).addEventListener("change", () => {
      const r = mode.readRates();
      try {
        if (![r.muonLr, r.auxLr, r.adamwLr].every((v) => Number.isFinite(v) && v >= 0)) {
          throw new Error("a learning rate must be a number >= 0");
        }
        // While a step runs the session is busy (its promise holds it): apply between steps.
        if (loop) mode.pendingRates = r;
        else mode.session?.setLearningRates(r.muonLr, r.auxLr, r.adamwLr);
        mode.lr = r;
        $(id).setCustomValidity("");
      } catch (e) {
        $(id).setCustomValidity(e.message);
        $(id).reportValidity();
      }
    });
  }
  $("hidden").addEventListener("change", () => {
    mode.hidden = $("hidden").value.split(",").map(Number);
    reset().catch((e) => showFailure(e?.message ?? e));
  });

  const drop = $("drop");
  const useFile = async (file) => {
    if (!file) return;
    await stopLoop();
    modes.image.target = await imageToRgb(file);
    await reset();
  };
  drop.addEventListener("click", (e) => {
    if (e.target.tagName !== "INPUT") $("file").click();
  });
  $("file").addEventListener("change", () => useFile($("file").files[0]).catch((e) => showFailure(e?.message ?? e)));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    useFile(e.dataTransfer.files[0]).catch((err) => showFailure(err?.message ?? err));
  });
}

async function main() {
  if (!window.isSecureContext) {
    explainMissingWebGpu(`this page is not a secure context (${location.protocol}//${location.host}), and browsers offer WebGPU only to secure ones.`);
    return;
  }
  if (!("gpu" in navigator)) {
    explainMissingWebGpu("this browser does not offer WebGPU (<code>navigator.gpu</code> is undefined).");
    return;
  }
  await init();
  let info;
  try {
    info = await adapterInfo();
  } catch (e) {
    explainMissingWebGpu(e.message);
    return;
  }
  // Browsers may leave wgpu's adapter name empty; GPUAdapterInfo says more.
  const gpuInfo = (await navigator.gpu.requestAdapter())?.info ?? {};
  const name =
    info.name || gpuInfo.description || [gpuInfo.vendor, gpuInfo.architecture].filter(Boolean).join(" ") || "(unnamed)";
  const software = info.deviceType === "Cpu" || gpuInfo.architecture === "swiftshader";
  demo.adapter = `${name} (${info.deviceType})`;
  $("adapter").innerHTML = "";
  $("adapter").append(
    "WebGPU adapter: ",
    Object.assign(document.createElement("b"), { textContent: name }),
    ` (${software ? "software, on the CPU: small networks" : info.deviceType}; ` +
      `subgroups ${info.subgroups ? "yes" : "no"}, shader-f16 ${info.shaderF16 ? "yes" : "no"})`,
  );
  for (const m of Object.values(modes)) m.sizeFor(software);
  if (params.get("mode") === "tfjs") return tfjsTab(software);

  for (const key of ["muonLr", "auxLr", "adamwLr"]) mode.lr[key] = numberParam(key, mode.lr[key]);
  mode.showRates();
  const widths = widthsParam();
  if (widths) mode.hidden = widths;
  for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.mode === mode.name));
  $("digits").hidden = mode.name !== "digits";
  $("image").hidden = mode.name !== "image";
  $("gpt").hidden = mode.name !== "gpt";
  fillHiddenOptions();
  $("app").hidden = false;
  wireControls();
  await mode.create();
  if (autorun) mode.stopAt = autorun;
  demo.ready = true;
  publish();
  render();
  if (autorun) setRunning(true);
}

// ?mode=tfjs: the other tabs are links back to this page in their mode.
async function tfjsTab(software) {
  demo.mode = "tfjs";
  for (const b of document.querySelectorAll(".tabs button")) {
    b.setAttribute("aria-selected", String(b.dataset.mode === "tfjs"));
    b.addEventListener("click", () => (location.search = b.dataset.mode === "digits" ? "" : `?mode=${b.dataset.mode}`));
  }
  for (const id of ["digits", "image", "gpt"]) $(id).hidden = true;
  document.querySelector(".controls").style.display = "none"; // its CSS display beats `hidden`
  $("tfjs").hidden = false;
  $("app").hidden = false;
  const { runTab } = await import("./tfjs-demo.js");
  await runTab(demo, { autorun, software, seed: numberParam("seed", 0), $ });
}

main().catch((e) => showFailure(e?.message ?? e));

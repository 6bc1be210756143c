// The "TensorFlow.js + Muon" tab (?mode=tfjs): a digits MLP written in plain tfjs ops, trained
// twice from the same initialization on the same minibatches, once by muon-wgpu's Muon + AdamW
// (muon-wgpu/tfjs, on one shared GPUDevice) and once by tfjs's own tf.train.adam.
// `record` is the browser test's hook (web/test.mjs): it also returns the gradients of each step.
import * as tf from "@tensorflow/tfjs-core";
import { digitsData } from "./pkg/muon_wgpu.js";
import { loadData } from "./assets.js";
import { TfjsMuon, useMuonDevice } from "./tfjs.js";
import { LineChart, smooth } from "./chart.js";

/** Muon (keras preset: tfjs stores weights [in, out]) and its AdamW; tf.train.adam's rate. */
export const RATES = { muonLr: 0.02, auxLr: 0.003, adamLr: 0.003 };
const COLORS = { muon: "#d62728", adamw: "#1f77b4" };
let generation = 0; // tfjs variable names are global: each model gets its own prefix

// mulberry32: a small seeded generator, so both runs (and the test) start from the same weights.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** He-normal weights `[in, out]` (Box-Muller), zero biases: `{w1, b1, w2, b2}` with their shapes. */
export function initialParams(hidden, seed) {
  const u = rng(seed + 1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const weights = (fanIn, fanOut) => Float32Array.from({ length: fanIn * fanOut }, () => normal() * Math.sqrt(2 / fanIn));
  return {
    w1: { shape: [64, hidden], values: weights(64, hidden) },
    b1: { shape: [hidden], values: new Float32Array(hidden) },
    w2: { shape: [hidden, 10], values: weights(hidden, 10) },
    b2: { shape: [10], values: new Float32Array(10) },
  };
}

/** The minibatch indices of each step: seeded shuffles of the training set, epoch after epoch. */
function* batches(n, size, seed) {
  const u = rng(seed + 2);
  for (;;) {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(u() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let s = 0; s + size <= n; s += size) yield order.slice(s, s + size);
  }
}

// tfjs-core registers no gradients by itself (the @tensorflow/tfjs bundle imports them all): the
// model's few, as tfjs-core's own gradients/*.js write them, unless already registered.
const GRADIENTS = [
  {
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b], { transposeA, transposeB }) => {
      if (transposeA || transposeB) throw new Error("the demo's BatchMatMul gradient handles no transposes");
      return { a: () => tf.matMul(dy, b, false, true), b: () => tf.matMul(a, dy, true, false) };
    },
  },
  {
    kernelName: "Add",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => {
      // A broadcast input's gradient is dy summed over the axes it was broadcast along.
      const reduce = (x) => () => {
        const axes = tf.backend_util.getReductionAxes(x.shape, dy.shape);
        return tf.reshape(axes.length ? tf.sum(dy, axes) : dy, x.shape);
      };
      return { a: reduce(a), b: reduce(b) };
    },
  },
  { kernelName: "Relu", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy, tf.cast(tf.step(x), "float32")) }) },
  { kernelName: "Reshape", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy, x.shape) }) },
];

/** Mean softmax cross-entropy of `logits` against one-hot `y`, with its gradient `(softmax − y) / batch`. */
const crossEntropy = tf.customGrad((logits, y, save) => {
  save([logits, y]);
  const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
  return {
    value: tf.neg(tf.mean(tf.sum(tf.mul(y, logp), 1))),
    gradFunc: (dy, [l, t]) => [tf.mul(dy, tf.div(tf.sub(tf.softmax(l), t), l.shape[0])), tf.zerosLike(t)],
  };
});

/** One model, its variables named `<prefix>/w1` ...; `loss(x, y)` is the mean cross-entropy. */
function model(init) {
  for (const g of GRADIENTS) if (tf.getGradient(g.kernelName) == null) tf.registerGradient(g);
  const prefix = `tfjs${generation++}`;
  const vars = {};
  for (const [k, p] of Object.entries(init)) vars[`${prefix}/${k}`] = tf.variable(tf.tensor(p.values, p.shape), true, `${prefix}/${k}`);
  const v = (k) => vars[`${prefix}/${k}`];
  const loss = (x, y) => {
    const hidden = tf.relu(tf.add(tf.matMul(x, v("w1")), v("b1")));
    return crossEntropy(tf.add(tf.matMul(hidden, v("w2")), v("b2")), y);
  };
  return { vars, loss };
}

/** A training run: `kind` "muon" (muon-wgpu) or "adamw" (tf.train.adam). `step` resolves to the loss. */
async function run(kind, init, rates) {
  const m = model(init);
  const list = Object.values(m.vars);
  if (kind === "muon") {
    const muon = await TfjsMuon.create(m.vars, { preset: "keras", lr: rates.muonLr, adamLr: rates.auxLr });
    return {
      ...m,
      muon,
      async step(x, y, onGrads) {
        const { value, grads } = tf.variableGrads(() => m.loss(x, y), list);
        if (onGrads) await onGrads(grads);
        muon.step(grads);
        tf.dispose(grads);
        const loss = (await value.data())[0];
        value.dispose();
        return loss;
      },
      dispose() {
        muon.dispose();
        tf.dispose(list);
      },
    };
  }
  const adam = tf.train.adam(rates.adamLr);
  return {
    ...m,
    async step(x, y) {
      const value = adam.minimize(() => m.loss(x, y), true, list);
      const loss = (await value.data())[0];
      value.dispose();
      return loss;
    },
    dispose() {
      adam.dispose();
      tf.dispose(list);
    },
  };
}

/** The digits as tfjs tensors: one minibatch `(x [b, 64], y one-hot [b, 10])`. */
function minibatch(data, indices) {
  const x = new Float32Array(indices.length * 64);
  const y = new Float32Array(indices.length * 10);
  indices.forEach((i, r) => {
    x.set(data.inputs.subarray(i * 64, i * 64 + 64), r * 64);
    y[r * 10 + data.labels[i]] = 1;
  });
  return [tf.tensor2d(x, [indices.length, 64]), tf.tensor2d(y, [indices.length, 10])];
}

/**
 * The browser test's run: Muon on tfjs gradients for `steps` steps from `initialParams(hidden,
 * seed)`, returning the initial values, each step's gradients (read back for the test only),
 * the final values and the losses, as plain arrays.
 */
export async function record({ steps = 5, hidden = 32, batch = 64, seed = 0, rates = RATES } = {}) {
  await useMuonDevice();
  await loadData("digits.bin");
  const data = digitsData().train;
  const init = initialParams(hidden, seed);
  const r = await run("muon", init, rates);
  const names = Object.keys(init);
  const key = (full) => full.split("/").pop();
  const grads = [];
  const losses = [];
  const order = batches(data.labels.length, batch, seed);
  for (let s = 0; s < steps; s++) {
    const [x, y] = minibatch(data, order.next().value);
    losses.push(
      await r.step(x, y, async (g) => {
        const read = {};
        for (const [full, t] of Object.entries(g)) read[key(full)] = Array.from(await t.data());
        grads.push(read);
      }),
    );
    tf.dispose([x, y]);
  }
  const final = {};
  for (const [full, v] of Object.entries(r.vars)) final[key(full)] = Array.from(await v.data());
  r.dispose();
  const plain = (o) => Object.fromEntries(names.map((n) => [n, { shape: o[n].shape, values: Array.from(o[n].values) }]));
  return { init: plain(init), grads, final, losses, rates, preset: "keras" };
}

/**
 * The tab: both runs step by step (Muon's, then Adam's, on the same minibatch), the loss curves
 * side by side and the ms per step of each (from the call to the loss read back). Publishes into
 * `demo` (window.muonDemo): step, loss, losses, msPerStep {muon, adamw}, done.
 */
export async function runTab(demo, { autorun = 0, software = false, seed = 0, $ }) {
  await useMuonDevice();
  await loadData("digits.bin");
  const data = digitsData().train;
  const hidden = software ? 64 : 128;
  const init = initialParams(hidden, seed);
  const runs = { muon: await run("muon", init, RATES), adamw: await run("adamw", init, RATES) };
  const ms = { muon: [], adamw: [] };
  const chart = new LineChart($("tfjsLossChart"), { logY: true });
  const order = batches(data.labels.length, 64, seed);
  const stopAt = autorun || Infinity;
  let running = autorun > 0;
  $("tfjsInfo").textContent = `MLP 64 → ${hidden} → 10 in tfjs ops, batch 64; Muon lr ${RATES.muonLr} (keras preset), AdamW next to it ${RATES.auxLr}; tf.train.adam ${RATES.adamLr}`;
  const button = $("tfjsRun");
  const show = () => {
    button.textContent = running ? "Pause" : demo.step > 0 ? "Resume" : "Start";
    const series = [];
    for (const k of ["muon", "adamw"]) {
      const raw = demo.losses[k];
      series.push({ color: COLORS[k], width: 1, alpha: 0.2, points: raw.map((v, i) => [i + 1, v]) });
      const label = k === "muon" ? "tfjs + muon-wgpu Muon" : "tfjs + tf.train.adam";
      series.push({ label, color: COLORS[k], width: 2.5, points: smooth(raw, 0.08).map((v, i) => [i + 1, v]) });
    }
    chart.draw(series, Math.max(10, demo.step, Number.isFinite(stopAt) ? stopAt : 0));
    // The first step compiles both runs' shaders: left out of the mean.
    const avg = (v) => (v.length > 1 ? v.slice(1).slice(-50) : v).reduce((a, b, _, w) => a + b / w.length, 0);
    demo.msPerStep = { muon: avg(ms.muon), adamw: avg(ms.adamw) };
    $("tfjsSpeed").textContent = demo.step
      ? `step ${demo.step}: ${demo.msPerStep.muon.toFixed(1)} ms/step with Muon, ${demo.msPerStep.adamw.toFixed(1)} ms/step with tf.train.adam (mean of the last 50 steps, the first left out)`
      : "";
  };
  const loop = async () => {
    while (running && demo.step < stopAt) {
      const [x, y] = minibatch(data, order.next().value);
      for (const k of ["muon", "adamw"]) {
        const t0 = performance.now();
        const loss = await runs[k].step(x, y);
        ms[k].push(performance.now() - t0);
        demo.losses[k].push(loss);
        demo.loss[k] = loss;
      }
      tf.dispose([x, y]);
      demo.step++;
      if (demo.step % 5 === 0 || demo.step === stopAt) show();
      await new Promise((r) => setTimeout(r, 0));
    }
    running = false;
    demo.done = demo.step >= stopAt;
    show();
  };
  button.addEventListener("click", () => {
    running = !running;
    if (running) loop().catch((e) => (demo.error = String(e?.message ?? e)));
    show();
  });
  demo.ready = true;
  show();
  if (running) await loop();
}

// The browser test of the demo (run by scripts/web-test.sh after it built web/pkg):
// serves web/ on 127.0.0.1, opens it in headless Debian Chromium with --enable-unsafe-webgpu
// (SwiftShader's WebGPU) through playwright-core, and checks
//   - digits, ?autorun=N: ready, step N, both losses fell, test accuracies, no console errors,
//     and the per-step losses equal a native run's of the same seed and steps (WEB_TEST_NATIVE);
//   - the JS API: MuonOptimizer on Float32Arrays against the same step computed here in f64,
//     and errors as exceptions carrying the crate's message;
//   - "fit an image", ?mode=image&autorun=M: both losses fell, both reconstructions drawn;
//   - "Write like Shakespeare", ?mode=gpt&autorun=K: both losses fell, validation losses, tokens/s
//     and samples reported, and the losses equal a native run's (WEB_TEST_GPT_NATIVE);
//   - "TensorFlow.js + Muon", ?mode=tfjs&autorun=T: both losses fell, ms per step of each, and
//     the parameters after a few Muon steps on tfjs gradients equal `muon-wgpu replay`'s on the
//     same initial values and gradients (within WEB_TEST_TFJS_TOLERANCE, 1e-5 relative);
//   - without WebGPU: the page says what is missing and how to get it.
// Screenshots: target/web-screenshot.png (digits), target/web-screenshot-image.png.
//
// Environment: WEB_TEST_STEPS (30), WEB_TEST_IMAGE_STEPS (8), WEB_TEST_HIDDEN (64,64),
// WEB_TEST_LRS (0.01,0.01,0.01: Muon, AdamW next to it, AdamW alone),
// WEB_TEST_NATIVE (a JSON file from `cargo run --example web_parity`), CHROMIUM (/usr/bin/chromium),
// WEB_TEST_TOLERANCE (1e-4, relative).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");
const env = process.env;
const STEPS = Number(env.WEB_TEST_STEPS ?? 30);
const IMAGE_STEPS = Number(env.WEB_TEST_IMAGE_STEPS ?? 8);
const HIDDEN = env.WEB_TEST_HIDDEN ?? "64,64";
// Muon, AdamW next to Muon, AdamW alone.
const [MUON_LR, AUX_LR, ADAMW_LR] = (env.WEB_TEST_LRS ?? "0.01,0.01,0.01").split(",");
const TOLERANCE = Number(env.WEB_TEST_TOLERANCE ?? 1e-4);
const CHROMIUM = env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = Number(env.WEB_TEST_TIMEOUT_S ?? 900) * 1000;
const BASE_ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

const mean = (v) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
// "Fell": the mean of the last five steps is below the mean of the first five.
function fell(losses) {
  if (losses.length < 10 || !losses.every(Number.isFinite)) return [false, "too few or non-finite losses"];
  const [first, last] = [mean(losses.slice(0, 5)), mean(losses.slice(-5))];
  return [last < first, `${first.toFixed(4)} → ${last.toFixed(4)}`];
}

// The browser's per-step losses of both runs against a native run's (a JSON file of
// `cargo run --example web_parity`): the same length, each within TOLERANCE relative.
function checkParity(label, losses, nativeFile) {
  const native = JSON.parse(readFileSync(nativeFile, "utf8"));
  for (const run of ["muon", "adamw"]) {
    const [b, n] = [losses[run], native.loss[run]];
    let worst = b.length === n.length ? 0 : Infinity;
    for (let i = 0; i < Math.min(b.length, n.length); i++) worst = Math.max(worst, Math.abs(b[i] - n[i]) / Math.abs(n[i]));
    check(
      `${label}: browser ${run} losses equal the native run's (${native.adapter}) within ${TOLERANCE} relative`,
      worst <= TOLERANCE,
      `${b.length} vs ${n.length} steps, worst ${worst.toExponential(2)}`,
    );
  }
}

async function launch(webgpu) {
  const profile = mkdtempSync(join(tmpdir(), "muon-wgpu-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: webgpu ? ["--enable-unsafe-webgpu", ...BASE_ARGS] : BASE_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Opens `url`, collecting console errors and uncaught exceptions.
async function open(context, url, init) {
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  if (init) await page.addInitScript(init);
  await page.goto(url);
  return { page, errors };
}

async function finished(page) {
  await page.waitForFunction(() => window.muonDemo && (window.muonDemo.done || window.muonDemo.error), null, {
    timeout: TIMEOUT_MS,
    polling: 500,
  });
  return page.evaluate(() => JSON.parse(JSON.stringify(window.muonDemo)));
}

// Newton-Schulz as muon.py's zeropower_via_newtonschulz5, in f64, on a rows × cols array.
function newtonSchulz(g, rows, cols, steps = 5) {
  const [a, b, c] = [3.4445, -4.775, 2.0315];
  const tall = rows > cols;
  const [m, n] = tall ? [cols, rows] : [rows, cols];
  let x = Array.from({ length: m }, (_, i) => Array.from({ length: n }, (_, j) => (tall ? g[j * cols + i] : g[i * cols + j])));
  const norm = Math.sqrt(x.flat().reduce((s, v) => s + v * v, 0));
  x = x.map((r) => r.map((v) => v / Math.max(norm, 1e-7)));
  const mul = (p, q) => p.map((r) => q[0].map((_, j) => r.reduce((s, v, k) => s + v * q[k][j], 0)));
  const t = (p) => p[0].map((_, j) => p.map((r) => r[j]));
  for (let s = 0; s < steps; s++) {
    const A = mul(x, t(x));
    const A2 = mul(A, A);
    const B = A.map((r, i) => r.map((v, j) => b * v + c * A2[i][j]));
    const Bx = mul(B, x);
    x = x.map((r, i) => r.map((v, j) => a * v + Bx[i][j]));
  }
  const out = new Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = tall ? x[j][i] : x[i][j];
  return out;
}

async function testDigits(context, base) {
  const url = `${base}/?autorun=${STEPS}&hidden=${HIDDEN}&seed=0&muonLr=${MUON_LR}&auxLr=${AUX_LR}&adamwLr=${ADAMW_LR}`;
  const { page, errors } = await open(context, url);
  const t0 = Date.now();
  const demo = await finished(page);
  const seconds = (Date.now() - t0) / 1000;
  await page.screenshot({ path: join(repo, "target/web-screenshot.png"), fullPage: true });

  check("digits: the page got a WebGPU adapter and became ready", demo.ready && !!demo.adapter, demo.adapter ?? demo.error);
  check("digits: no error", demo.error === null, demo.error ?? "");
  check(`digits: ?autorun=${STEPS} reached step ${STEPS} and stopped`, demo.step === STEPS && demo.done, `step ${demo.step}`);
  for (const run of ["muon", "adamw"]) {
    const [ok, detail] = fell(demo.losses[run]);
    check(`digits: the ${run} loss fell`, ok, detail);
    const acc = demo.accuracy[run];
    check(`digits: the ${run} test accuracy is reported`, acc !== null && acc > 0.1, `${acc}`);
  }
  check("digits: loss fields are the last step's", demo.loss.muon === demo.losses.muon.at(-1) && demo.loss.adamw === demo.losses.adamw.at(-1));
  check("digits: no console errors", errors.length === 0, errors.join(" | "));
  const stepsPerSecond = demo.stepsPerSecond;
  console.log(
    `     adapter ${demo.adapter}; ${STEPS} steps of 64-${HIDDEN.replace(/,/g, "-")}-10 in ${seconds.toFixed(1)} s ` +
      `(page load included), ${stepsPerSecond?.toFixed(2)} steps/s at the end; test accuracy ` +
      `Muon+AdamW ${(100 * demo.accuracy.muon).toFixed(1)}%, AdamW ${(100 * demo.accuracy.adamw).toFixed(1)}%`,
  );

  if (env.WEB_TEST_NATIVE) checkParity("parity", demo.losses, env.WEB_TEST_NATIVE);
  await page.close();
}

async function testApi(context, base) {
  const { page, errors } = await open(context, `${base}/?autorun=0`);
  await page.waitForFunction(() => window.muonDemo?.ready || window.muonDemo?.error, null, { timeout: TIMEOUT_MS });
  const grad = Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
  const r = await page.evaluate(async (grad) => {
    const m = await import("./pkg/muon_wgpu.js");
    await m.default();
    const opt = await m.MuonOptimizer.create({ preset: "torch", lr: 0.02, adamLr: 0.1, weightDecay: 0, adamWeightDecay: 0 });
    opt.addParameter("w", [4, 3], new Float32Array(12).fill(0.5));
    opt.addParameter("b", [4], new Float32Array([1, 1, 1, 1]));
    opt.build();
    opt.setGradient("w", Float32Array.from(grad));
    opt.setGradient("b", new Float32Array([1, -2, 3, -4]));
    opt.step();
    const w = await opt.readParameter("w");
    const b = await opt.readParameter("b");
    const message = (f) => {
      try {
        f();
        return null;
      } catch (e) {
        return `${e instanceof Error ? "Error" : typeof e}: ${e.message}`;
      }
    };
    let unknownOption = null;
    try {
      await m.MuonOptimizer.create({ lrr: 0.1 });
    } catch (e) {
      unknownOption = e.message;
    }
    // Issue 13: a call while a readParameter is in flight is refused with a clear error (then
    // works once it resolved); shapes are whole numbers; nonFinite: "skip_step" skips a NaN step.
    const stepCountAfterOne = opt.stepCount;
    opt.setGradient("w", Float32Array.from(grad));
    opt.setGradient("b", new Float32Array([1, -2, 3, -4]));
    const pending = opt.readParameter("w");
    await Promise.resolve(); // the read has started and waits for the GPU
    const inFlight = message(() => opt.step());
    await pending;
    const afterwards = message(() => opt.step());
    const skipping = await m.MuonOptimizer.create({ preset: "torch", nonFinite: "skip_step" });
    const badShape = message(() => skipping.addParameter("x", [2.5, 4], new Float32Array(10)));
    const hugeShape = message(() => skipping.addParameter("x", [4294967297, 2], new Float32Array(2)));
    skipping.addParameter("w", [4, 3], new Float32Array(12).fill(0.5));
    skipping.build();
    const nan = Float32Array.from(grad);
    nan[5] = NaN;
    skipping.setGradient("w", nan);
    skipping.step();
    const skipped = await skipping.skippedSteps();
    const untouched = [...(await skipping.readParameter("w"))].every((v) => v === 0.5);
    const skippedCount = skipping.stepCount;
    skipping.free();
    let hugeNs = null;
    try {
      await m.MuonOptimizer.create({ nsSteps: 1e9 });
    } catch (e) {
      hugeNs = e.message;
    }
    const out = {
      inFlight,
      afterwards,
      badShape,
      hugeShape,
      skipped,
      untouched,
      skippedCount,
      hugeNs,
      w: [...w],
      b: [...b],
      isFloat32: w instanceof Float32Array,
      routes: [opt.route("w"), opt.route("b")],
      stepCount: stepCountAfterOne,
      wrongLength: message(() => opt.setGradient("b", new Float32Array(3))),
      unknownName: message(() => opt.setGradient("nope", new Float32Array(3))),
      unknownOption,
    };
    opt.free();
    return out;
  }, grad);
  // torch preset, first step, no weight decay: W ← W − lr·sqrt(max(1, rows/cols))·NS(G/‖G‖);
  // AdamW's first step is lr·g/(|g| + ε).
  const o = newtonSchulz(grad, 4, 3);
  const scale = Math.sqrt(4 / 3);
  const expectW = o.map((v) => 0.5 - 0.02 * scale * v);
  const worstW = Math.max(...r.w.map((v, i) => Math.abs(v - expectW[i])));
  const expectB = [0.9, 1.1, 0.9, 1.1];
  const worstB = Math.max(...r.b.map((v, i) => Math.abs(v - expectB[i])));
  check("api: MuonOptimizer routes the matrix to Muon and the vector to AdamW", r.routes.join() === "muon,adamw", r.routes.join());
  check("api: a Muon step on Float32Arrays matches Newton-Schulz in f64", r.isFloat32 && worstW < 1e-5, `max |Δ| ${worstW.toExponential(2)}`);
  check("api: an AdamW step matches lr·sign(g)", worstB < 1e-5, `max |Δ| ${worstB.toExponential(2)}`);
  check("api: stepCount counts steps", r.stepCount === 1, `${r.stepCount}`);
  check(
    "api: a wrong length throws an Error with the crate's message",
    r.wrongLength === "Error: parameter `b`: gradient has 3 values, but its shape [4] needs 4",
    r.wrongLength,
  );
  check("api: an unknown parameter throws", r.unknownName === "Error: unknown parameter `nope`", r.unknownName);
  check("api: an unknown option throws", /unknown option `lrr`/.test(r.unknownOption ?? ""), r.unknownOption);
  check("api: step() during a pending readParameter is refused clearly", /in flight/.test(r.inFlight ?? ""), r.inFlight);
  check("api: after it resolved, step() works", r.afterwards === null, r.afterwards);
  check("api: fractional and huge shape dimensions throw", /whole number/.test(r.badShape ?? "") && /whole number/.test(r.hugeShape ?? ""), `${r.badShape} | ${r.hugeShape}`);
  check("api: nonFinite skip_step skips a NaN step", r.skipped === 1 && r.untouched && r.skippedCount === 0, `${r.skipped} ${r.untouched} ${r.skippedCount}`);
  check("api: nsSteps 1e9 is refused, not a crash", /ns_steps/.test(r.hugeNs ?? ""), r.hugeNs);
  await testKerasOptions(page);
  check("api: no console errors", errors.length === 0, errors.join(" | "));
  await page.close();
}

// The Keras base optimizer's options through the JS API (camelCase keys of the replay format).
async function testKerasOptions(page) {
  const r = await page.evaluate(async () => {
    const m = await import("./pkg/muon_wgpu.js");
    const opt = await m.MuonOptimizer.create({
      preset: "torch", adamLr: 0.1, adamWeightDecay: 0, clipvalue: 0.5, useEma: true,
      emaMomentum: 0.5, lrSchedule: "piecewise:boundaries=0,values=1|0.5",
    });
    opt.addParameter("b", [4], new Float32Array([1, 1, 1, 1]));
    opt.build();
    const b0 = [1, 1, 1, 1];
    opt.setGradient("b", new Float32Array([1, -2, 3, -4]));
    opt.step();
    const b1 = [...(await opt.readParameter("b"))];
    const avg1 = [...(await opt.readAverage("b"))];
    // Each step needs a fresh gradient (a stale one is refused).
    opt.setGradient("b", new Float32Array([1, -2, 3, -4]));
    opt.step();
    const b2 = [...(await opt.readParameter("b"))];
    const avg2 = [...(await opt.readAverage("b"))];
    opt.free();
    let twoClips = null;
    try {
      await m.MuonOptimizer.create({ clipnorm: 1, clipvalue: 1 });
    } catch (e) {
      twoClips = e.message;
    }
    return { b0, b1, avg1, b2, avg2, twoClips };
  });
  // AdamW on a constant gradient moves each element by lr·η·sign(g) (clipping keeps the sign):
  // η = 1, then 0.5; the EMA starts at the parameter, then averages it with momentum 0.5.
  const want1 = [0.9, 1.1, 0.9, 1.1];
  const want2 = [0.85, 1.15, 0.85, 1.15];
  const wantAvg2 = want1.map((v, i) => 0.5 * v + 0.5 * want2[i]);
  const worst = Math.max(
    ...r.b1.map((v, i) => Math.abs(v - want1[i])),
    ...r.avg1.map((v, i) => Math.abs(v - want1[i])),
    ...r.b2.map((v, i) => Math.abs(v - want2[i])),
    ...r.avg2.map((v, i) => Math.abs(v - wantAvg2[i])),
  );
  check("api: clipvalue, lrSchedule and useEma act (readAverage)", worst < 1e-4, `max |Δ| ${worst.toExponential(2)}`);
  check("api: two clipping options throw, naming them", /clipnorm, clipvalue/.test(r.twoClips ?? ""), r.twoClips);
}

async function testImage(context, base) {
  const hidden = env.WEB_TEST_IMAGE_HIDDEN ?? "32,32,32";
  const { page, errors } = await open(context, `${base}/?mode=image&autorun=${IMAGE_STEPS}&hidden=${hidden}&batch=256`);
  const demo = await finished(page);
  await page.screenshot({ path: join(repo, "target/web-screenshot-image.png"), fullPage: true });
  check("image: no error", demo.error === null, demo.error ?? "");
  check(`image: ?mode=image&autorun=${IMAGE_STEPS} reached step ${IMAGE_STEPS}`, demo.mode === "image" && demo.step === IMAGE_STEPS, `${demo.mode} step ${demo.step}`);
  for (const run of ["muon", "adamw"]) {
    const l = demo.losses[run];
    const ok = l.length === IMAGE_STEPS && l.every(Number.isFinite) && mean(l.slice(-2)) < mean(l.slice(0, 2));
    check(`image: the ${run} loss fell`, ok, l.length ? `${l[0].toFixed(4)} → ${l.at(-1).toFixed(4)}` : "no losses");
    check(`image: the ${run} reconstruction was drawn`, Number.isFinite(demo.psnr[run]), `PSNR ${demo.psnr[run]?.toFixed(2)} dB`);
  }
  check("image: no console errors", errors.length === 0, errors.join(" | "));
  await page.close();
}

// The GPT page's sizes on SwiftShader (and of scripts/web-test.sh's native run).
const GPT_STEPS = Number(env.WEB_TEST_GPT_STEPS ?? 10);
const GPT_QUERY = "hidden=32&batch=4&context=32&heads=2&layers=1&seed=0";

async function testGpt(context, base) {
  const { page, errors } = await open(context, `${base}/?mode=gpt&autorun=${GPT_STEPS}&${GPT_QUERY}`);
  const t0 = Date.now();
  const demo = await finished(page);
  const seconds = (Date.now() - t0) / 1000;
  await page.screenshot({ path: join(repo, "target/web-screenshot-gpt.png"), fullPage: true });
  check("gpt: no error", demo.error === null, demo.error ?? "");
  check(`gpt: ?mode=gpt&autorun=${GPT_STEPS} reached step ${GPT_STEPS}`, demo.mode === "gpt" && demo.step === GPT_STEPS && demo.done, `${demo.mode} step ${demo.step}`);
  for (const run of ["muon", "adamw"]) {
    const [ok, detail] = fell(demo.losses[run]);
    check(`gpt: the ${run} loss fell`, ok, detail);
    check(`gpt: the ${run} validation loss is reported`, Number.isFinite(demo.valLoss[run]) && demo.valLoss[run] < 4.4, `${demo.valLoss[run]}`);
    check(`gpt: the ${run} model wrote a sample`, typeof demo.samples[run] === "string" && demo.samples[run].length > 0, JSON.stringify(demo.samples[run]?.slice(0, 40)));
  }
  check("gpt: tokens/s reported", demo.tokensPerSecond > 0, `${demo.tokensPerSecond}`);
  check("gpt: no console errors", errors.length === 0, errors.join(" | "));
  console.log(
    `     ${GPT_STEPS} GPT steps in ${seconds.toFixed(1)} s (page load and samples included), ` +
      `${demo.tokensPerSecond?.toFixed(0)} training tokens/s (both runs) at the end`,
  );
  if (env.WEB_TEST_GPT_NATIVE) checkParity("gpt parity", demo.losses, env.WEB_TEST_GPT_NATIVE);
  await page.close();
}

// Safetensors (the replay format) in a few lines: F32 tensors and string metadata.
function writeSafetensors(path, tensors, metadata) {
  const header = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * t.values.length] };
    offset += 4 * t.values.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.concat(Object.values(tensors).map((t) => Buffer.from(Float32Array.from(t.values).buffer)));
  writeFileSync(path, Buffer.concat([size, Buffer.from(json), data]));
}

function readSafetensors(path) {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = t.data_offsets;
    const raw = bytes.subarray(8 + n + a, 8 + n + b);
    out[name] = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  }
  return out;
}

const TFJS_STEPS = Number(env.WEB_TEST_TFJS_STEPS ?? 20);
const TFJS_TOLERANCE = Number(env.WEB_TEST_TFJS_TOLERANCE ?? 1e-5);

async function testTfjs(context, base) {
  const { page, errors } = await open(context, `${base}/?mode=tfjs&autorun=${TFJS_STEPS}`);
  const demo = await finished(page);
  await page.screenshot({ path: join(repo, "target/web-screenshot-tfjs.png"), fullPage: true });
  check("tfjs: no error", demo.error === null, demo.error ?? "");
  check(`tfjs: ?mode=tfjs&autorun=${TFJS_STEPS} reached step ${TFJS_STEPS}`, demo.mode === "tfjs" && demo.step === TFJS_STEPS && demo.done, `${demo.mode} step ${demo.step}`);
  for (const run of ["muon", "adamw"]) {
    const [ok, detail] = fell(demo.losses[run]);
    check(`tfjs: the ${run === "muon" ? "muon-wgpu Muon" : "tf.train.adam"} loss fell`, ok, detail);
  }
  const ms = demo.msPerStep ?? {};
  check("tfjs: ms per step of both reported", ms.muon > 0 && ms.adamw > 0, `Muon ${ms.muon?.toFixed(1)} ms, tf.train.adam ${ms.adamw?.toFixed(1)} ms (${demo.adapter})`);

  // Parity: Muon steps on tfjs gradients in the browser against `muon-wgpu replay` natively.
  const r = await page.evaluate(async () => (await import("./tfjs-demo.js")).record({ steps: 5, hidden: 32 }));
  const tensors = {};
  for (const [name, p] of Object.entries(r.init)) tensors[`param/${name}`] = p;
  r.grads.forEach((g, k) => {
    for (const [name, values] of Object.entries(g)) tensors[`grad/${k}/${name}`] = { shape: r.init[name].shape, values };
  });
  const meta = { preset: r.preset, lr: String(r.rates.muonLr), adam_lr: String(r.rates.auxLr), steps: String(r.grads.length) };
  const [casePath, outPath] = [join(repo, "target/web-tfjs-case.safetensors"), join(repo, "target/web-tfjs-replay.safetensors")];
  writeSafetensors(casePath, tensors, meta);
  const flags = (env.WEB_TEST_CARGO_FLAGS ?? "").split(" ").filter(Boolean);
  const replay = spawnSync("cargo", ["run", "--quiet", ...flags, "--bin", "muon-wgpu", "--", "replay", casePath, "-o", outPath], {
    cwd: repo,
    encoding: "utf8",
  });
  check("tfjs parity: muon-wgpu replay ran", replay.status === 0, replay.stderr.split("\n").filter((l) => !/XDG_RUNTIME_DIR/.test(l)).join(" ").slice(0, 300));
  if (replay.status === 0) {
    const native = readSafetensors(outPath);
    let worst = 0;
    let detail = "";
    for (const [name, values] of Object.entries(r.final)) {
      const n = native[`param/${name}`];
      const scale = Math.max(...n.map(Math.abs));
      const diff = values.length === n.length ? Math.max(...values.map((v, i) => Math.abs(v - n[i]))) / scale : Infinity;
      if (diff >= worst) [worst, detail] = [diff, name];
    }
    check(
      `tfjs parity: parameters after ${r.grads.length} Muon steps on tfjs gradients equal muon-wgpu replay's within ${TFJS_TOLERANCE} relative`,
      worst <= TFJS_TOLERANCE,
      `worst ${worst.toExponential(2)} (${detail}, max |difference| / max |value|; the steps moved w1 by up to ${Math.max(...r.final.w1.map((v, i) => Math.abs(v - r.init.w1.values[i]))).toExponential(2)})`,
    );
    check("tfjs parity: the recorded Muon run's loss fell", r.losses.at(-1) < r.losses[0], r.losses.map((l) => l.toFixed(4)).join(" → "));
  }
  // The GPU handles' contract and muon-wgpu/tfjs's errors.
  const api = await page.evaluate(async () => {
    const tf = await import("@tensorflow/tfjs-core");
    const { MuonOptimizer } = await import("./pkg/muon_wgpu.js");
    const { TfjsMuon } = await import("./tfjs.js");
    const message = (f) => {
      try {
        f();
        return "no error";
      } catch (e) {
        return e.message;
      }
    };
    const packed = await MuonOptimizer.create({ preset: "keras" });
    packed.addParameter("w", [2, 2], new Float32Array(4));
    packed.build();
    const out = { packed: message(() => packed.parameterBuffer("w")) };
    packed.free();
    const v = tf.variable(tf.ones([3, 2]), true, "api/w");
    const m = await TfjsMuon.create({ "api/w": v }, { preset: "keras" });
    const [p, g] = [m.optimizer.parameterBuffer("api/w"), m.optimizer.gradientBuffer("api/w")];
    Object.assign(out, { sizes: [p.size, g.size], usages: [p.usage, g.usage] });
    out.shape = message(() => m.step({ "api/w": tf.ones([2, 3]) }));
    out.missing = message(() => m.step({}));
    // Gradients only the GPU writes: the stale-gradient guard (host-only) never refuses a step.
    const ones = tf.ones([3, 2]);
    out.steps = message(() => [m.step({ "api/w": ones }), m.step({ "api/w": ones })]);
    out.stepCount = m.optimizer.stepCount;
    out.moved = (await v.data())[0] !== 1;
    m.dispose();
    tf.dispose([v, ones]);
    return out;
  });
  check("api: parameterBuffer without gpuBuffers throws, naming the option", /gpuBuffers: true/.test(api.packed), api.packed);
  check(
    "api: parameterBuffer/gradientBuffer are 4 × size bytes, STORAGE | COPY_SRC | COPY_DST",
    api.sizes.join() === "24,24" && api.usages.every((u) => u === (0x80 | 0x4 | 0x8)),
    `sizes ${api.sizes}, usages ${api.usages}`,
  );
  check("tfjs: a gradient of the wrong shape throws, naming both shapes", /shape \[2,3\], the parameter \[3,2\]/.test(api.shape), api.shape);
  check("tfjs: a missing gradient throws, naming it", /no gradient for `api\/w`/.test(api.missing), api.missing);
  check(
    "tfjs: two steps on GPU-written gradients pass the stale-gradient guard and move the variable (v.data() not stale)",
    api.steps === "no error" && api.stepCount === 2 && api.moved,
    `${api.steps}; stepCount ${api.stepCount}`,
  );
  check("tfjs: no console errors", errors.length === 0, errors.join(" | "));
  await page.close();
}

async function testNoWebGpu(base) {
  // Without the flag, headless Chromium on Linux has navigator.gpu but no adapter; with the
  // init script, no navigator.gpu at all (as in browsers without WebGPU).
  const browser = await launch(false);
  try {
    for (const [what, init] of [
      ["no adapter", null],
      ["no navigator.gpu", () => delete Navigator.prototype.gpu],
    ]) {
      const { page } = await open(browser.context, `${base}/?autorun=5`, init);
      await page.waitForFunction(() => window.muonDemo?.error || window.muonDemo?.ready, null, { timeout: 120000 });
      const r = await page.evaluate(() => ({
        error: window.muonDemo.error,
        ready: window.muonDemo.ready,
        shown: !document.getElementById("unsupported").hidden,
        text: document.getElementById("unsupported").innerText,
      }));
      check(
        `no WebGPU (${what}): the page says what is missing and how to get it`,
        !r.ready && r.shown && /needs WebGPU/.test(r.text) && /How to get it/.test(r.text) && /WebGPU unavailable/.test(r.error ?? ""),
        (r.error ?? "").slice(0, 140),
      );
      await page.close();
    }
  } finally {
    await browser.close();
  }
}

const server = await serve(here);
const base = `http://127.0.0.1:${server.address().port}`;
let browser;
try {
  browser = await launch(true);
  await testDigits(browser.context, base);
  await testApi(browser.context, base);
  await testImage(browser.context, base);
  await testGpt(browser.context, base);
  await testTfjs(browser.context, base);
  await browser.close();
  browser = null;
  await testNoWebGpu(base);
} catch (e) {
  check("the browser test ran to the end", false, e?.stack ?? String(e));
} finally {
  await browser?.close().catch(() => {});
  server.close();
}
console.log(`screenshots: target/web-screenshot.png, target/web-screenshot-image.png, target/web-screenshot-gpt.png, target/web-screenshot-tfjs.png`);
console.log(`web: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

// The npm package's test (scripts/npm-package.sh --test): installs the tarball into an empty
// project, serves a page that imports `muon-wgpu` through an import map, and runs one optimizer
// step in headless Chromium (SwiftShader WebGPU). Ends with `npm package: N passed, M failed`.
//
//   node web/npm/test-package.mjs /abs/path/muon-wgpu-<version>.tgz

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../serve.mjs";

const tarball = process.argv[2];
let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

const project = mkdtempSync(join(tmpdir(), "muon-wgpu-npm-"));
writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-muon-wgpu", private: true, type: "module" }));
// --prefer-offline: @webgpu/types (its one dependency) usually sits in npm's cache already.
execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], { cwd: project, stdio: "inherit" });
const installed = JSON.parse(readFileSync(join(project, "node_modules/muon-wgpu/package.json"), "utf8"));
check(
  "the tarball installs as muon-wgpu, an ES module with . and ./tfjs exports, each typed",
  installed.name === "muon-wgpu" && installed.type === "module" && installed.sideEffects === false &&
    ["." , "./tfjs"].every((k) => installed.exports[k]?.types && installed.exports[k]?.default),
  `${installed.name}@${installed.version}`,
);

writeFileSync(
  join(project, "index.html"),
  `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">{"imports": {"muon-wgpu": "./node_modules/muon-wgpu/muon_wgpu.js"}}</script>
<script type="module">
  import init, { MuonOptimizer } from "muon-wgpu";
  try {
    await init();
    const opt = await MuonOptimizer.create({ preset: "keras", lr: 0.1 });
    opt.addParameter("w", [4, 3], new Float32Array(12).fill(1));
    opt.build();
    opt.setGradient("w", Float32Array.from({ length: 12 }, (_, i) => i - 6));
    opt.step();
    window.result = { route: opt.route("w"), steps: opt.stepCount, w: Array.from(await opt.readParameter("w")) };
  } catch (e) {
    window.result = { error: String(e?.message ?? e) };
  }
</script>`,
);

const server = await serve(project);
const profile = mkdtempSync(join(tmpdir(), "muon-wgpu-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--enable-unsafe-webgpu", "--no-sandbox", "--headless", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.result, null, { timeout: 120000 });
  const r = await page.evaluate(() => window.result);
  const moved = r.w?.some((v) => Math.abs(v - 1) > 1e-3) && r.w.every(Number.isFinite);
  check("one optimizer step from the installed package in headless Chromium", !r.error && r.route === "muon" && r.steps === 1 && moved, r.error ?? `route ${r.route}, w[0] ${r.w?.[0]}`);
  check("no console errors", errors.length === 0, errors.join(" | "));
} catch (e) {
  check("the package test ran to the end", false, e?.stack ?? String(e));
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(project, { recursive: true, force: true });
}
console.log(`npm package: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

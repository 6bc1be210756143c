// muon-wgpu/tfjs: TensorFlow.js models trained by muon-wgpu's Muon on one shared GPUDevice, with
// no copies through the CPU. Importing this module does nothing; `useMuonDevice()` and
// `TfjsMuon.create()` act.
//
//   import * as tf from "@tensorflow/tfjs-core";
//   import { useMuonDevice, TfjsMuon } from "muon-wgpu/tfjs";
//   await useMuonDevice();                       // tfjs's WebGPU backend on muon-wgpu's device
//   const w = tf.variable(tf.randomNormal([64, 32]), true, "w");
//   const muon = await TfjsMuon.create({ w }, { preset: "keras", lr: 0.02 });
//   const { grads } = tf.variableGrads(() => loss(), [w]);
//   muon.step(grads);                            // one GPU-to-GPU copy per gradient, then Muon
//
// How: our wasm creates the device (wgpu cannot adopt one made in JS), tfjs's WebGPUBackend is
// built on it; `gpuBuffers: true` gives every parameter its own buffers at offset 0, which tfjs
// wraps with `zeroCopy` (it never frees them); a tfjs variable assigned such a tensor shares its
// buffer, so the optimizer updates what the next forward pass reads. The internals of
// @tensorflow/tfjs-backend-webgpu 4.22.0 used here (tensorMap, commandEncoder, submitQueue) are
// checked at run time, with an error naming the version, since no public API exposes them.
import * as tf from "@tensorflow/tfjs-core";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import init, { gpuDevice, MuonOptimizer } from "./pkg/muon_wgpu.js";

const TESTED = "@tensorflow/tfjs-backend-webgpu 4.22.0";
let lost = null;

/** The WebGPU backend tfjs is running on, checked to be on `device`. */
function webgpuBackend(device, call) {
  if (tf.getBackend() !== "webgpu") {
    throw new Error(`${call}: tfjs runs on "${tf.getBackend()}", not WebGPU; await useMuonDevice() first`);
  }
  const backend = tf.backend();
  if (backend.device !== device) {
    throw new Error(`${call}: tfjs's WebGPU backend is on another GPUDevice; await useMuonDevice() first`);
  }
  for (const name of ["tensorMap", "submitQueue", "ensureCommandEncoderReady", "endComputePassEncoder"]) {
    if (backend[name] == null) throw new Error(`${call}: this tfjs WebGPU backend has no ${name} (tested with ${TESTED})`);
  }
  return backend;
}

/**
 * Puts tfjs's "webgpu" backend on muon-wgpu's GPUDevice (replacing any other "webgpu" backend)
 * and makes it the current backend; keeps every tensor on the GPU (`WEBGPU_CPU_FORWARD` false),
 * so gradients are GPU buffers. Returns the device. Idempotent.
 */
export async function useMuonDevice() {
  await init();
  const device = await gpuDevice();
  // engine().registry, not findBackend: that would start a pending "webgpu" factory's own device.
  const engine = tf.engine();
  if (engine.registry.webgpu?.device !== device) {
    if (engine.registryFactory.webgpu != null) tf.removeBackend("webgpu");
    tf.registerBackend("webgpu", () => new WebGPUBackend(device, device.adapterInfo ?? {}), 3);
    device.lost.then((info) => {
      lost = info;
    });
  }
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  if (!(await tf.setBackend("webgpu"))) throw new Error("useMuonDevice: tfjs could not start its WebGPU backend");
  return device;
}

/** Muon (AdamW for what Muon should not touch) on tfjs variables that live in its buffers. */
export class TfjsMuon {
  /**
   * Moves each variable of `variables` (an object of name to `tf.Variable`, or an array of
   * named variables) into its own muon-wgpu parameter buffer, with its current values; the
   * variables stay usable as before. `options`: `MuonOptimizer.create`'s (`gpuBuffers` is
   * implied), plus `routes`, an object of name to "auto" | "muon" | "adamw".
   */
  static async create(variables, options = {}) {
    const device = await useMuonDevice();
    const backend = webgpuBackend(device, "TfjsMuon.create");
    const named = Array.isArray(variables) ? Object.fromEntries(variables.map((v) => [v.name, v])) : variables;
    const { routes = {}, ...muonOptions } = options;
    const opt = await MuonOptimizer.create({ ...muonOptions, gpuBuffers: true });
    for (const [name, v] of Object.entries(named)) {
      if (v.dtype !== "float32") throw new Error(`TfjsMuon.create: \`${name}\` is ${v.dtype}, not float32`);
      opt.addParameter(name, v.shape, await v.data(), routes[name] ?? "auto");
    }
    opt.build();
    for (const [name, v] of Object.entries(named)) {
      const t = tf.tensor({ buffer: opt.parameterBuffer(name), zeroCopy: true }, v.shape, "float32");
      v.assign(t); // shares t's buffer (no copy)
      t.dispose();
    }
    return new TfjsMuon(opt, named, device, backend);
  }

  constructor(optimizer, variables, device, backend) {
    /** The MuonOptimizer underneath (`readParameter`, `setLearningRate`, `route`, ...). */
    this.optimizer = optimizer;
    this.variables = variables;
    this.device = device;
    this.backend = backend;
  }

  /**
   * One step with `grads` (name to tf.Tensor, as `tf.variableGrads` returns them): one
   * GPU-to-GPU copy into each gradient buffer, recorded on tfjs's own command encoder and
   * submitted with tfjs's pending work (the flush), then the optimizer's step. The caller
   * keeps ownership of `grads` (dispose them after). Afterwards tfjs's CPU copies of the
   * variables are dropped, so `v.data()` reads the new values.
   */
  step(grads) {
    if (lost) throw new Error(`TfjsMuon.step: the GPU device was lost (${lost.reason}: ${lost.message})`);
    const backend = webgpuBackend(this.device, "TfjsMuon.step");
    if (backend !== this.backend) throw new Error("TfjsMuon.step: tfjs's WebGPU backend was replaced since create()");
    for (const name of Object.keys(this.variables)) {
      if (grads[name] == null) throw new Error(`TfjsMuon.step: no gradient for \`${name}\``);
    }
    // Every check before the first copy: a refused step records nothing.
    const sources = Object.entries(grads).map(([name, g]) => {
      const v = this.variables[name];
      if (v == null) throw new Error(`TfjsMuon.step: gradient \`${name}\` names no parameter`);
      if (g.shape.join() !== v.shape.join()) {
        throw new Error(`TfjsMuon.step: gradient \`${name}\` has shape [${g.shape}], the parameter [${v.shape}]`);
      }
      const data = backend.tensorMap.get(g.dataId);
      if (data == null) throw new Error(`TfjsMuon.step: gradient \`${name}\` is not a tensor of this WebGPU backend`);
      if (data.resource == null && data.values == null) throw new Error(`TfjsMuon.step: gradient \`${name}\` has no data`);
      return [name, g, data];
    });
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    for (const [name, g, data] of sources) {
      const dst = this.optimizer.gradientBuffer(name);
      const bytes = 4 * g.size;
      if (data.resource != null) backend.commandEncoder.copyBufferToBuffer(data.resource, 0, dst, 0, bytes);
      else this.device.queue.writeBuffer(dst, 0, data.values, 0, g.size);
    }
    backend.submitQueue();
    this.optimizer.step();
    for (const [name, v] of Object.entries(this.variables)) {
      const data = backend.tensorMap.get(v.dataId);
      if (data?.resource !== this.optimizer.parameterBuffer(name)) {
        throw new Error(`TfjsMuon.step: variable \`${name}\` was assigned another tensor since create(); it no longer lives in the optimizer's buffer`);
      }
      data.values = null; // tfjs's CPU copy is stale now
    }
  }

  /** Frees the optimizer; the variables keep their last values (their buffers stay valid). */
  dispose() {
    this.optimizer.free();
  }
}

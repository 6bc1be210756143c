/// <reference types="@webgpu/types" />
// muon-wgpu/tfjs: TensorFlow.js variables trained by muon-wgpu's Muon on one GPUDevice.
import type { Tensor, Variable, NamedTensorMap } from "@tensorflow/tfjs-core";
import type { MuonOptimizer, MuonOptions } from "./muon_wgpu.js";

/**
 * Puts tfjs's "webgpu" backend on muon-wgpu's GPUDevice (replacing any other) and makes it
 * current; sets WEBGPU_CPU_FORWARD to false so gradients stay on the GPU. Idempotent.
 */
export function useMuonDevice(): Promise<GPUDevice>;

export interface TfjsMuonOptions extends Omit<MuonOptions, "gpuBuffers"> {
  /** Per variable name: "auto" (default: the preset's rule), "muon" or "adamw". */
  routes?: Record<string, "auto" | "muon" | "adamw">;
}

export class TfjsMuon {
  /**
   * Moves each variable into its own muon-wgpu parameter buffer (zero copy afterwards), keeping
   * its values. Use "keras" or "optax": tfjs stores dense kernels as [in, out].
   */
  static create(variables: Record<string, Variable> | Variable[], options?: TfjsMuonOptions): Promise<TfjsMuon>;
  /** The optimizer underneath (readParameter, setLearningRate, route, stepCount, ...). */
  readonly optimizer: MuonOptimizer;
  readonly variables: Record<string, Variable>;
  readonly device: GPUDevice;
  /**
   * One step with tfjs gradients (name → tensor, as tf.variableGrads returns them): one GPU copy
   * each, a flush of tfjs's pending work, then Muon. The caller disposes `grads`.
   */
  step(grads: NamedTensorMap | Record<string, Tensor>): void;
  /** Frees the optimizer; the variables keep their last values. */
  dispose(): void;
}

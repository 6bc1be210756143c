// The data files the wasm leaves out for its download size (scripts/web.sh copies them from
// data/ into pkg/): fetched once, when a tab first needs them, and handed to the wasm.
import { loadCorpus, loadDigits } from "./pkg/muon_wgpu.js";

const LOADERS = { "digits.bin": loadDigits, "shakespeare.txt.gz": loadCorpus };
const loading = {};

/** Resolves once `file` ("digits.bin" or "shakespeare.txt.gz") is in the wasm. */
export function loadData(file) {
  loading[file] ??= fetch(`pkg/${file}`).then(async (r) => {
    if (!r.ok) throw new Error(`pkg/${file}: HTTP ${r.status} (scripts/web.sh copies data/${file} there)`);
    LOADERS[file](new Uint8Array(await r.arrayBuffer()));
  });
  return loading[file];
}

#import step_scalars
// The step scalars of a skip_step step, chosen on the GPU: the identity (W, m and v unchanged)
// when control[0] flags a NaN or Inf gradient, else the row of the host's table for the step
// number the GPU counts (control[1]: steps applied since the host's last read), so a skipped
// step does not advance the step count.

struct SelectDims {
    muon_count: u32,  // MuonStep entries per row
    adam_count: u32,  // AdamStep entries per row
    window: u32,      // rows in the tables
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> dims: SelectDims;
@group(0) @binding(1) var<storage, read_write> control: array<u32>;
@group(0) @binding(2) var<storage, read> muon_table: array<MuonStep>;
@group(0) @binding(3) var<storage, read> adam_table: array<AdamStep>;
@group(0) @binding(4) var<storage, read_write> muon_steps: array<MuonStep>;
@group(0) @binding(5) var<storage, read_write> adam_steps: array<AdamStep>;

// m <- 1 m + 0 g,  u = 0,  W <- 1 W - 0 O: nothing changes.
fn muon_identity() -> MuonStep {
    return MuonStep(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0);
}

// m and v unchanged (1-b = 0), W <- 1 W - 0 (0 / (sqrt(v) + 1)).
fn adam_identity() -> AdamStep {
    return AdamStep(0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0);
}

// One workgroup.
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
    let skip = control[0] != 0u;
    let row = control[1];
    let overflow = !skip && row >= dims.window;
    let identity = skip || overflow;
    // Every invocation has read the words before the first one changes them.
    storageBarrier();
    if lid == 0u {
        if skip {
            control[2] += 1u;
        } else if overflow {
            control[3] = 1u;
        } else {
            control[1] = row + 1u;
        }
    }
    for (var i = lid; i < dims.muon_count; i += 64u) {
        if identity {
            muon_steps[i] = muon_identity();
        } else {
            muon_steps[i] = muon_table[row * dims.muon_count + i];
        }
    }
    for (var i = lid; i < dims.adam_count; i += 64u) {
        if identity {
            adam_steps[i] = adam_identity();
        } else {
            adam_steps[i] = adam_table[row * dims.adam_count + i];
        }
    }
}

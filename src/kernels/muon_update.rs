//! `muon_update.wgsl`: `W ← W·keep - lr_eff·O` with O read back from the workspace.

use super::{Dispatch, Kernels, MatrixDims};

impl Kernels {
    /// Applies the orthogonalized update in `ortho` to the parameters in `param`,
    /// `W ← W·keep − lr_eff·O` with `steps[dims.batch]`
    /// (`dims.src_stride` is the parameter buffer's stride).
    pub fn muon_update(
        &self,
        device: &wgpu::Device,
        dims: MatrixDims,
        steps: &wgpu::Buffer,
        ortho: &wgpu::Buffer,
        param: &wgpu::Buffer,
    ) -> Dispatch {
        // Blocks of four when the matrices allow it (the workspace always does).
        let vec4 = dims.blocks_of_four(&[ortho, param]);
        let file = if vec4 {
            "muon_update_vec4.wgsl"
        } else {
            "muon_update.wgsl"
        };
        Dispatch::with_uniform(
            device,
            if vec4 {
                "muon_update (4 × 4 blocks)"
            } else {
                "muon_update"
            },
            &self.pipeline(device, file, &[]),
            bytemuck::bytes_of(&dims),
            &[steps, ortho, param],
            dims.grid(self.inner.max_workgroups, vec4),
        )
    }
}

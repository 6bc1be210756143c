//! `muon_update.wgsl`: `W ← W·keep - lr_eff·O` with O read back from the workspace.

use super::{Dispatch, Kernels, MatrixDims};

// Compiled with `matrix_view.wgsl` in front, like momentum's.
pub(super) const SOURCE: &str = concat!(
    include_str!("../../shaders/matrix_view.wgsl"),
    include_str!("../../shaders/muon_update.wgsl")
);
pub(super) const VEC4_SOURCE: &str = concat!(
    include_str!("../../shaders/matrix_view.wgsl"),
    include_str!("../../shaders/muon_update_vec4.wgsl")
);

impl Kernels {
    /// Applies the orthogonalized update in `ortho` to the parameters in `param`
    /// (`dims.src_stride` is the parameter buffer's stride).
    pub fn muon_update(
        &self,
        device: &wgpu::Device,
        dims: MatrixDims,
        scalars: &wgpu::Buffer,
        ortho: &wgpu::Buffer,
        param: &wgpu::Buffer,
    ) -> Dispatch {
        // Blocks of four when the matrices allow it (the workspace always does).
        let vec4 = dims.blocks_of_four(&[ortho, param]);
        let source = if vec4 { VEC4_SOURCE } else { SOURCE };
        let slot = &self.inner.muon_update[vec4 as usize];
        Dispatch::with_uniform(
            device,
            if vec4 {
                "muon_update (4 × 4 blocks)"
            } else {
                "muon_update"
            },
            &Self::cached(slot, device, "muon_update", source, &[]),
            bytemuck::bytes_of(&dims),
            &[scalars, ortho, param],
            dims.grid(self.inner.max_workgroups, vec4),
        )
    }
}

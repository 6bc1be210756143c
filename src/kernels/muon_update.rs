//! `muon_update.wgsl`: `W ← W·keep - lr_eff·O` with O read back from the workspace.

use super::{Dispatch, Kernels, MatrixDims};

pub(super) const SOURCE: &str = include_str!("../../shaders/muon_update.wgsl");

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
        self.dispatch(
            device,
            "muon_update",
            &Self::cached(&self.inner.muon_update, device, "muon_update", SOURCE, &[]),
            bytemuck::bytes_of(&dims),
            &[scalars, ortho, param],
            dims.grid(self.inner.max_workgroups),
        )
    }
}

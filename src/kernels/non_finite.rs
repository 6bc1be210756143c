//! The kernels of the skip_step non-finite policy (`crate::optimizer`'s `non_finite` has the
//! control words and the order): `non_finite_scan.wgsl` flags a NaN or ±Inf among a buffer's
//! gradient ranges, `non_finite_select.wgsl` chooses the step scalars (the identity when
//! flagged), `non_finite_zero.wgsl` zeroes a flagged step's gradients.

use super::{strided_grid, AdamStep, Dispatch, Kernels, MuonStep};

/// `GradRange` of `non_finite_ranges.wgsl`: one gradient's elements in its buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GradRange {
    /// First element (f32 index).
    pub offset: u32,
    pub len: u32,
    pub _pad: [u32; 2],
}

/// `SelectDims` of `non_finite_select.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct SelectDims {
    muon_count: u32,
    adam_count: u32,
    window: u32,
    _pad: u32,
}

/// The passes of the policy over a gradient buffer's ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradPass {
    /// `control[0] ← 1` if any value is NaN or ±Inf.
    Scan,
    /// Flagged: the values ← 0 (so that `0·NaN` reaches no state).
    Zero,
}

/// The step-scalar buffers `non_finite_select.wgsl` reads and writes.
pub struct SelectOperands<'a> {
    /// `[flag, applied since the last read, skipped in all, overflow]`.
    pub control: &'a wgpu::Buffer,
    /// The host's tables: `window` rows of [`MuonStep`]s, and of [`AdamStep`]s.
    pub muon_table: &'a wgpu::Buffer,
    pub adam_table: &'a wgpu::Buffer,
    /// The step's scalars, written.
    pub muon_steps: &'a wgpu::Buffer,
    pub adam_steps: &'a wgpu::Buffer,
}

impl Kernels {
    /// One of the per-buffer passes over `ranges` of `grad`: [`GradPass::Scan`] or
    /// [`GradPass::Zero`].
    pub fn non_finite_pass(
        &self,
        device: &wgpu::Device,
        pass: GradPass,
        ranges: &[GradRange],
        grad: &wgpu::Buffer,
        control: &wgpu::Buffer,
    ) -> Dispatch {
        let (label, shader) = match pass {
            GradPass::Scan => ("non-finite scan", "non_finite_scan.wgsl"),
            GradPass::Zero => ("non-finite zero", "non_finite_zero.wgsl"),
        };
        self.over_ranges(device, label, shader, ranges, grad, control)
    }

    fn over_ranges(
        &self,
        device: &wgpu::Device,
        label: &'static str,
        shader: &str,
        ranges: &[GradRange],
        grad: &wgpu::Buffer,
        control: &wgpu::Buffer,
    ) -> Dispatch {
        let longest = ranges.iter().map(|r| r.len as u64).max().unwrap_or(1);
        Dispatch::with_table(
            device,
            label,
            &self.pipeline(device, shader, &[]),
            bytemuck::cast_slice(ranges),
            &[grad, control],
            strided_grid(longest, self.max_workgroups()),
        )
    }

    /// Flagged: step scalars ← identity, `control[2] += 1`; else step scalars ←
    /// `table[control[1]]`, `control[1] += 1` (one workgroup). A row of a table holds as many
    /// entries as the step buffers; `window` is the rows.
    pub fn non_finite_select(
        &self,
        device: &wgpu::Device,
        window: u32,
        ops: SelectOperands<'_>,
    ) -> Dispatch {
        let entries = |buffer: &wgpu::Buffer, size: usize| (buffer.size() / size as u64) as u32;
        let dims = SelectDims {
            muon_count: entries(ops.muon_steps, std::mem::size_of::<MuonStep>()),
            adam_count: entries(ops.adam_steps, std::mem::size_of::<AdamStep>()),
            window,
            _pad: 0,
        };
        Dispatch::with_uniform(
            device,
            "non-finite select",
            &self.pipeline(device, "non_finite_select.wgsl", &[]),
            bytemuck::bytes_of(&dims),
            &[
                ops.control,
                ops.muon_table,
                ops.adam_table,
                ops.muon_steps,
                ops.adam_steps,
            ],
            [1, 1, 1],
        )
    }
}

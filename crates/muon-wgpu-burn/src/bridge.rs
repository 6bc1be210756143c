//! From a burn float tensor to the wgpu buffer range that holds it, and back into a fresh burn
//! tensor. burn 0.22.1 offers no way to wrap an outside buffer and module clones share handles,
//! so values return through a fresh `Tensor::empty` and a GPU copy, never by writing into a
//! parameter's own buffer.
//!
//! The path: `Tensor` → `try_into_primitive::<Cube>()` (a fusion tensor) → fusion's
//! `resolve_tensor_float` (runs the tensor's pending fused work) → `into_contiguous` (a
//! transposed gradient gets a compact copy) → `Client::get_resource` (submits burn's pending
//! work on the queue, then returns `WgpuResource { buffer, offset, size }`). The returned guard
//! pins the allocation (cubecl relocates and reuses live allocations otherwise) until the
//! [`Pinned`] is dropped, after our submit.

use std::any::Any;

use burn::tensor::{DType, Device, Shape, Tensor};
use burn_cubecl::cubecl::wgpu::{AutoCompiler, WgpuServer};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{Cube, CubeBackend};

use crate::error::{Error, Result};

/// A tensor's bytes on the GPU, kept in place while this lives.
pub(crate) struct Pinned {
    pub buffer: wgpu::Buffer,
    /// Byte offset of the first `f32`.
    pub offset: u64,
    /// The cubecl guard and tensor: dropping them releases the allocation to cubecl.
    _hold: Vec<Box<dyn Any>>,
}

/// The cube tensor behind a float tensor on burn's wgpu backend (autodiff stripped).
fn cube_tensor<const D: usize>(name: &str, tensor: Tensor<D>) -> Result<CubeTensor> {
    let dtype = tensor.dtype();
    if dtype != DType::F32 {
        return Err(Error::NotF32 {
            name: name.into(),
            dtype: format!("{dtype:?}"),
        });
    }
    let fusion = tensor
        .inner()
        .try_into_primitive::<Cube>()
        .map_err(|e| Error::NotWgpu {
            name: name.into(),
            reason: format!("{e:?}"),
        })?;
    let client = fusion.client.clone();
    Ok(client.resolve_tensor_float::<CubeBackend>(fusion))
}

fn pin(name: &str, tensor: CubeTensor, bytes: u64) -> Result<Pinned> {
    let guard = tensor
        .client
        .get_resource::<WgpuServer<AutoCompiler>>(tensor.handle.clone())
        .map_err(|e| Error::NotWgpu {
            name: name.into(),
            reason: format!("{e:?}"),
        })?;
    let resource = guard.resource();
    if resource.size < bytes {
        return Err(Error::Burn {
            operation: "reach the buffer of",
            name: name.into(),
            message: format!("{} bytes for {bytes}", resource.size),
        });
    }
    Ok(Pinned {
        buffer: resource.buffer.clone(),
        offset: resource.offset,
        _hold: vec![Box::new(guard), Box::new(tensor)],
    })
}

fn byte_len(shape: &Shape) -> u64 {
    shape.num_elements() as u64 * 4
}

/// The buffer range holding `tensor`'s values (row-major), after burn's pending work on it.
pub(crate) fn read<const D: usize>(name: &str, tensor: Tensor<D>) -> Result<Pinned> {
    let bytes = byte_len(&tensor.shape());
    let cube = burn_cubecl::kernel::into_contiguous(cube_tensor(name, tensor)?);
    pin(name, cube, bytes)
}

/// A fresh tensor of this shape on `device` and the buffer range a copy must fill. The tensor
/// is materialized (not a lazy fusion node), so the range is where burn will read it.
pub(crate) fn fresh<const D: usize>(
    name: &str,
    shape: Shape,
    device: &Device,
) -> Result<(Tensor<D>, Pinned)> {
    let bytes = byte_len(&shape);
    let tensor = Tensor::<D>::empty(shape, device);
    // A clone keeps the tensor's fusion handle registered while the clone is resolved.
    let cube = cube_tensor(name, tensor.clone())?;
    if !cube.is_contiguous() {
        return Err(Error::Burn {
            operation: "allocate a contiguous tensor for",
            name: name.into(),
            message: "burn returned strided storage".into(),
        });
    }
    Ok((tensor, pin(name, cube, bytes)?))
}

/// The identity of a tensor's storage in burn's fusion layer (shared by its clones), or `None`
/// when it is not a float tensor on the cube backend. Host only: nothing runs on the GPU.
pub(crate) fn identity<const D: usize>(tensor: &Tensor<D>) -> Option<u64> {
    let fusion = tensor.clone().inner().try_into_primitive::<Cube>().ok()?;
    Some(fusion.id.value())
}

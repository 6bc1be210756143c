//! Reading and writing `f32` safetensors files (the replay and state formats).

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};

/// A named `f32` tensor.
pub type Tensor = (String, Vec<usize>, Vec<f32>);

/// The tensors and string metadata of one file.
#[derive(Clone, Debug, Default)]
pub struct TensorFile {
    pub tensors: Vec<Tensor>,
    pub metadata: HashMap<String, String>,
}

/// Parses safetensors bytes holding only little-endian F32 tensors; `label` names the file in errors.
pub fn parse(bytes: &[u8], label: &str) -> Result<TensorFile> {
    let malformed = |reason: String| Error::MalformedFile {
        path: label.into(),
        reason,
    };
    let st = SafeTensors::deserialize(bytes).map_err(|e| malformed(e.to_string()))?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| malformed(e.to_string()))?;
    let mut tensors = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    for name in names {
        let view = st.tensor(&name).map_err(|e| malformed(e.to_string()))?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::InvalidTensor {
                path: label.into(),
                tensor: name,
                reason: format!("dtype {:?}, expected F32", view.dtype()),
            });
        }
        if view.shape().is_empty() {
            return Err(Error::InvalidTensor {
                path: label.into(),
                tensor: name,
                reason: "a scalar (rank 0); tensors need rank >= 1".into(),
            });
        }
        // The data may be unaligned, so decode bytewise.
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.push((name, view.shape().to_vec(), values));
    }
    Ok(TensorFile {
        tensors,
        metadata: meta.metadata().clone().unwrap_or_default(),
    })
}

/// Serializes tensors and metadata to safetensors bytes.
pub fn serialize(tensors: &[Tensor], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::InvalidTensor {
                    path: "<output>".into(),
                    tensor: name.clone(),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::MalformedFile {
        path: "<output>".into(),
        reason: e.to_string(),
    })
}

/// Reads and parses a file (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &std::path::Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes, &path.display().to_string())
}

/// Serializes and writes a file atomically ([`crate::io::atomic_file`]; native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn write_file(
    path: &std::path::Path,
    tensors: &[Tensor],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes = serialize(tensors, metadata)?;
    // Atomic: a reader sees the old file or the whole new one, never a part.
    crate::io::atomic_file::write(path, &bytes)
}

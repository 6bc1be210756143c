//! The page's WebGPU device, shared by every object, and what adapter it runs on.

use std::cell::RefCell;

use js_sys::Object;
use wasm_bindgen::prelude::*;

use super::convert::{js_error, set};
use crate::{BackendChoice, Error, GpuContext};

thread_local! {
    /// One device per page: every object shares it, so a reset does not ask for a new one.
    static CONTEXT: RefCell<Option<GpuContext>> = const { RefCell::new(None) };
}

/// The page's WebGPU device, requested on first use.
pub(super) async fn context() -> Result<GpuContext, JsError> {
    if let Some(ctx) = CONTEXT.with(|c| c.borrow().clone()) {
        return Ok(ctx);
    }
    let ctx = GpuContext::new(BackendChoice::WebGpu)
        .await
        .map_err(|e| match e {
            Error::NoAdapter { .. } => JsError::new(
                "this browser has WebGPU (navigator.gpu) but gave no adapter \
                 (navigator.gpu.requestAdapter() returned null): the GPU may be blocklisted or WebGPU \
                 turned off (see chrome://gpu); on Linux, start Chrome with --enable-unsafe-webgpu",
            ),
            other => js_error(other),
        })?;
    CONTEXT.with(|c| *c.borrow_mut() = Some(ctx.clone()));
    Ok(ctx)
}

/// The WebGPU adapter the page uses: `{name, backend, deviceType, driver, description, subgroups, shaderF16}`.
#[wasm_bindgen(js_name = adapterInfo, unchecked_return_type = "AdapterInfo")]
pub async fn adapter_info() -> Result<JsValue, JsError> {
    let ctx = context().await?;
    let info = &ctx.info;
    let features = ctx.device.features();
    let out = Object::new();
    set(&out, "name", info.name.as_str());
    set(&out, "backend", format!("{:?}", info.backend));
    set(&out, "deviceType", format!("{:?}", info.device_type));
    set(&out, "driver", info.driver.as_str());
    set(&out, "description", ctx.describe());
    set(
        &out,
        "subgroups",
        features.contains(wgpu::Features::SUBGROUP),
    );
    set(
        &out,
        "shaderF16",
        features.contains(wgpu::Features::SHADER_F16),
    );
    Ok(out.into())
}

/// The page's `GPUDevice`, the one every `MuonOptimizer` and race runs on (requested on first
/// use): give it to other WebGPU code, such as TensorFlow.js (`muon-wgpu/tfjs`), to share
/// buffers with the optimizer without copies through the CPU. Never `destroy()` it.
#[wasm_bindgen(js_name = gpuDevice, unchecked_return_type = "GPUDevice")]
pub async fn gpu_device() -> Result<JsValue, JsError> {
    let ctx = context().await?;
    let device = (ctx.device.as_webgpu())
        .ok_or_else(|| JsError::new("gpuDevice: the device is not WebGPU"))?;
    Ok(device.clone().into())
}

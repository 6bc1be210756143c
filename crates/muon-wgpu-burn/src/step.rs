//! burn's side of a step: which parameters have a gradient, where their gradients and (when
//! burn's tensor is not the one we returned last step) their values are, and the fresh tensors
//! the new values go to, gathered into **three** buffers whatever the number of parameters:
//!
//! * the gradients, flattened and concatenated by burn (`Tensor::cat`, a GPU copy),
//! * the values that changed outside the optimizer since our last step, concatenated likewise
//!   (every value at the first step; usually none after),
//! * one fresh `Tensor::empty` holding every new value, which each parameter sees through a
//!   `slice` + `reshape` view (no copy).
//!
//! Each is reached once through [`crate::bridge`] (one round trip to burn's runtime each),
//! which is what keeps the host side of a step short.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

use crate::bridge::{self, Pinned};
use crate::error::{Error, Result};

/// Where one parameter's data sits in the three gathered buffers (element offsets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// Registration index.
    pub index: usize,
    /// Offset in the gradients and in the fresh output (the same: both in registration order).
    pub at: usize,
    /// Offset in the changed values, when its value is copied in.
    pub value_at: Option<usize>,
}

/// The gathered buffers of a step and every parameter's place in them.
pub(crate) struct Gathered {
    pub slots: Vec<Slot>,
    pub grads: Option<Pinned>,
    pub values: Option<Pinned>,
    pub out: Option<Pinned>,
}

/// Collects the stepped parameters' flattened gradients and changed values, in registration
/// order, without touching the model.
struct Collect<'a> {
    by_id: &'a HashMap<ParamId, usize>,
    lens: &'a [usize],
    returned: &'a [Option<u64>],
    grads: &'a GradientsParams,
    device: &'a Device,
    slots: Vec<Slot>,
    flat_grads: Vec<Tensor<1>>,
    flat_values: Vec<Tensor<1>>,
    grads_len: usize,
    values_len: usize,
    error: Option<Error>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(&index) = self.by_id.get(&param.id) else {
            return; // `check_model` has refused unregistered parameters already
        };
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return;
        };
        if grad.device().inner() != *self.device {
            self.error.get_or_insert(Error::NotWgpu {
                name: format!("gradient of parameter #{index}"),
                reason: format!("on {:?}, expected {:?}", grad.device(), self.device),
            });
            return;
        }
        if grad.dtype() != burn::tensor::DType::F32 {
            self.error.get_or_insert(Error::NotF32 {
                name: format!("gradient of parameter #{index}"),
                dtype: format!("{:?}", grad.dtype()),
            });
            return;
        }
        let len = self.lens[index];
        let value = param.val();
        let value_at = (bridge::identity(&value) != self.returned[index]).then(|| {
            self.flat_values.push(value.inner().reshape([len]));
            self.values_len += len;
            self.values_len - len
        });
        self.flat_grads.push(grad.reshape([len]));
        self.slots.push(Slot {
            index,
            at: self.grads_len,
            value_at,
        });
        self.grads_len += len;
    }
}

/// Gathers burn's side of a step (see the module's doc): the gradients and changed values as
/// burn concatenates them and a fresh output for every stepped parameter, one round trip to
/// burn's runtime each. Nothing in `module` changes.
pub(crate) fn gather<M: Module>(
    module: &M,
    grads: &GradientsParams,
    by_id: &HashMap<ParamId, usize>,
    lens: &[usize],
    returned: &[Option<u64>],
    device: &Device,
) -> Result<(Gathered, Tensor<1>)> {
    let mut c = Collect {
        by_id,
        lens,
        returned,
        grads,
        device,
        slots: Vec::new(),
        flat_grads: Vec::new(),
        flat_values: Vec::new(),
        grads_len: 0,
        values_len: 0,
        error: None,
    };
    module.visit(&mut c);
    if let Some(e) = c.error {
        return Err(e);
    }
    let cat = |what: &str, parts: Vec<Tensor<1>>| -> Result<Option<Pinned>> {
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(bridge::read(what, Tensor::cat(parts, 0))?))
    };
    let grads = cat("the gradients", c.flat_grads)?;
    let values = cat("the parameter values", c.flat_values)?;
    let (out, out_pin) = if c.grads_len > 0 {
        let (t, p) = bridge::fresh::<1>("the new values", [c.grads_len].into(), device)?;
        (t, Some(p))
    } else {
        (Tensor::empty([0], device), None)
    };
    let gathered = Gathered {
        slots: c.slots,
        grads,
        values,
        out: out_pin,
    };
    Ok((gathered, out))
}

/// Gives every stepped parameter its view of the output (`slice` + `reshape`, no copy). Run
/// after our submit, so that burn's work on the views is queued after our writes.
pub(crate) struct ViewMapper<'a> {
    pub by_id: &'a HashMap<ParamId, usize>,
    pub lens: &'a [usize],
    /// Output offset of each stepped parameter.
    pub at: HashMap<usize, usize>,
    pub out: Tensor<1>,
    pub returned: &'a mut [Option<u64>],
}

impl ModuleMapper for ViewMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let stepped = (self.by_id.get(&id)).and_then(|&i| Some((i, *self.at.get(&i)?)));
        let Some((index, at)) = stepped else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let len = self.lens[index];
        let view: Tensor<D> = self.out.clone().slice(at..at + len).reshape(tensor.shape());
        self.returned[index] = bridge::identity(&view);
        let fresh = ParameterContext::capture(&tensor).restore(view);
        Param::from_mapped_value(id, fresh, mapper)
    }
}

/// The autodiff state a parameter carries (burn-optim's `ParameterContext`): the updated value
/// comes back with autodiff, the same `require_grad` and checkpointing strategy.
struct ParameterContext {
    require_grad: bool,
    checkpointing: Option<burn::tensor::GradientCheckpointingStrategy>,
}

impl ParameterContext {
    fn capture<const D: usize>(parameter: &Tensor<D>) -> Self {
        Self {
            require_grad: parameter.is_require_grad(),
            checkpointing: parameter.gradient_checkpointing_strategy(),
        }
    }

    fn restore<const D: usize>(self, updated: Tensor<D>) -> Tensor<D> {
        let mut parameter = Tensor::from_inner(updated);
        if let Some(strategy) = self.checkpointing {
            parameter = parameter.with_gradient_checkpointing_strategy(strategy);
        }
        if self.require_grad {
            parameter = parameter.require_grad();
        }
        parameter
    }
}

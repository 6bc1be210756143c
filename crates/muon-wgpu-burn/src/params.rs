//! A model's float parameters by burn's path (`"blocks.0.attn.query.weight"`), found the way
//! burn's `ModuleOptimizer` finds them: the names of the fields entered, joined with dots.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{DType, Device, Tensor};

/// One float parameter of a model.
#[derive(Clone, Debug)]
pub struct ParamEntry {
    /// burn's path, which `ParamGroup::from_path` and routing see.
    pub path: String,
    pub id: ParamId,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub device: Device,
}

/// Every float parameter of `module`, in burn's visiting order.
pub fn collect<M: Module>(module: &M) -> Vec<ParamEntry> {
    let mut visitor = Collect::default();
    module.visit(&mut visitor);
    visitor.out
}

#[derive(Default)]
struct Collect {
    path: Vec<String>,
    out: Vec<ParamEntry>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.into());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        self.out.push(ParamEntry {
            path: self.path.join("."),
            id: param.id,
            shape: value.shape().to_vec(),
            dtype: value.dtype(),
            device: value.device(),
        });
    }
}

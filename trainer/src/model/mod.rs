//! Genotype to network: [`build`] turns a genotype of any space into a tch
//! network whose parameters live under stable paths of a [`nn::Path`]
//! (`cells.3.node2.edge0.dw1.weight`), so checkpoints survive refactors.
//!
//! One file per family: [`darts`] (the authors' `NetworkCIFAR` and
//! `NetworkImageNet`), `nb201` (NAS-Bench-201's `TinyNetwork`, and the same
//! skeleton over sequences for `seq` cells), `pnas` (NASNet-style stacks of
//! PNAS cells), `macro_chain` (NAS-RL's chain of convolutions) and [`mlp`]
//! (dense networks for tables); `ops` and `ops1d` hold what they share.
//!
//! Paths follow the genotype as given: a DARTS node's `edge0` is its first
//! edge in the genotype's text. Build from [`Genotype::canonical`] for paths
//! that depend on the architecture only.
//!
//! Architecture invariant: building never panics on a bad configuration. The
//! builders track feature-map sizes and channel counts as they go and answer
//! with a [`ModelError`] that names the problem; the variables created before
//! it stay in the store, so build into a fresh one.

pub mod darts;
mod macro_chain;
pub mod mlp;
pub(crate) mod nb201;
pub mod ops;
pub mod ops1d;
mod pnas;

pub use mlp::TableShape;

use ops::DropPath;
use space::{Genotype, InputKind, SpaceKind};
use std::collections::HashSet;
use tch::nn::{self, ModuleT};
use tch::Tensor;
use thiserror::Error;

/// Why a network cannot be built (or fed).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A setting out of range.
    #[error("{field}: {reason}")]
    Config {
        /// The setting (`channels`, `layers`, ...).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The input size does not suit the network's reductions or heads.
    #[error("input size {input}: {reason}")]
    InputSize {
        /// The configured input height and width.
        input: i64,
        /// Where the network needs something else.
        reason: String,
    },
    /// A factorized reduce would have to split an odd channel count.
    #[error("{at}: factorized reduce needs an even output channel count, got {channels}")]
    OddChannels {
        /// The module's path.
        at: String,
        /// The odd count.
        channels: i64,
    },
    /// A feature the family does not have.
    #[error("the {space} network has no {feature}")]
    Unsupported {
        /// The family.
        space: SpaceKind,
        /// The feature asked for.
        feature: &'static str,
    },
    /// A tensor not shaped like the configured input.
    #[error("expected an input of shape {want}, got {got:?}")]
    InputShape {
        /// The configured shape, with `batch` for the batch dimension.
        want: String,
        /// The tensor's shape.
        got: Vec<i64>,
    },
}

/// The settings of a network, beside the genotype.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// DARTS: initial channels C; NAS-Bench-201: C; PNAS: filters F. Unused
    /// by the macro chain, whose genotype fixes every layer's filters.
    pub channels: i64,
    /// DARTS: cells L; NAS-Bench-201 and PNAS: cells per stage N. Unused by
    /// the macro chain.
    pub layers: i64,
    /// Output classes.
    pub classes: i64,
    /// Channels of the input image or sequence.
    pub in_channels: i64,
    /// Height and width of the input image, or the sequence's length.
    pub input_size: i64,
    /// mlp only: the table's input columns.
    pub table: TableShape,
    /// DARTS only: build the auxiliary head (its parameters live under
    /// `auxiliary_head`).
    pub auxiliary: bool,
    /// DARTS and PNAS: initial drop-path probability (see
    /// [`Network::set_drop_path`]).
    pub drop_path: f64,
    /// DARTS only: the ImageNet network (three stride-2 stem convolutions,
    /// the ImageNet auxiliary head).
    pub imagenet: bool,
}

impl Default for NetConfig {
    /// The DARTS CIFAR-10 evaluation network (C = 36, L = 20).
    fn default() -> Self {
        Self::for_space(SpaceKind::Darts)
    }
}

/// Upper bounds of the settings (channels, layers, classes, input channels,
/// input size), far above any published network, so that a typo fails with
/// an error instead of asking libtorch for terabytes. A network within them
/// may still be too large for memory; libtorch's allocator refuses it then.
pub const LIMITS: [(&str, i64); 5] = [
    ("channels", 4096),
    ("layers", 1024),
    ("classes", 1_000_000),
    ("in_channels", 1024),
    ("input_size", 8192),
];

impl NetConfig {
    /// The published CIFAR-10 settings of each space: DARTS C = 36, L = 20;
    /// NAS-Bench-201 C = 16, N = 5; PNAS F = 48, N = 3 (PNASNet-5 on
    /// CIFAR-10); the macro chain takes its filters from the genotype.
    /// All: 10 classes, 3 x 32 x 32 inputs, no auxiliary head, no drop path.
    pub fn for_space(kind: SpaceKind) -> Self {
        let (channels, layers) = match kind {
            SpaceKind::Darts => (36, 20),
            SpaceKind::Nb201 => (16, 5),
            SpaceKind::Pnas => (48, 3),
            SpaceKind::Macro | SpaceKind::Mlp => (0, 0),
            SpaceKind::Seq => (16, 1),
        };
        Self {
            channels,
            layers,
            classes: 10,
            in_channels: 3,
            input_size: 32,
            table: TableShape::default(),
            auxiliary: false,
            drop_path: 0.0,
            imagenet: false,
        }
    }

    /// The DARTS ImageNet evaluation network: C = 48, L = 14, 1000 classes,
    /// 3 x 224 x 224 inputs.
    pub fn darts_imagenet() -> Self {
        Self {
            channels: 48,
            layers: 14,
            classes: 1000,
            input_size: 224,
            imagenet: true,
            ..Self::for_space(SpaceKind::Darts)
        }
    }

    /// Check the settings for a network of space `kind`.
    pub fn validate(&self, kind: SpaceKind) -> Result<(), ModelError> {
        let values = [
            self.channels,
            self.layers,
            self.classes,
            self.in_channels,
            self.input_size,
        ];
        for (&(field, max), v) in LIMITS.iter().zip(values) {
            let unused = match kind {
                SpaceKind::Macro => matches!(field, "channels" | "layers"),
                SpaceKind::Mlp => field != "classes",
                _ => false,
            };
            if !unused && !(1..=max).contains(&v) {
                return Err(ModelError::Config {
                    field,
                    reason: format!("{v} is not between 1 and {max}"),
                });
            }
        }
        check_drop_path(kind, self.drop_path)?;
        if kind != SpaceKind::Darts {
            if self.auxiliary {
                return Err(ModelError::Unsupported {
                    space: kind,
                    feature: "auxiliary head",
                });
            }
            if self.imagenet {
                return Err(ModelError::Unsupported {
                    space: kind,
                    feature: "ImageNet variant",
                });
            }
        }
        Ok(())
    }
}

fn check_drop_path(kind: SpaceKind, p: f64) -> Result<(), ModelError> {
    if !(0.0..1.0).contains(&p) {
        return Err(ModelError::Config {
            field: "drop_path",
            reason: format!("{p} is not a probability in [0, 1)"),
        });
    }
    if p > 0.0 && !matches!(kind, SpaceKind::Darts | SpaceKind::Pnas) {
        return Err(ModelError::Unsupported {
            space: kind,
            feature: "drop path",
        });
    }
    Ok(())
}

/// What a forward pass gives.
#[derive(Debug)]
pub struct Output {
    /// Class scores, `[batch, classes]`.
    pub logits: Tensor,
    /// The auxiliary head's class scores: only while training a network
    /// built with one, as in the DARTS reference.
    pub aux_logits: Option<Tensor>,
}

/// The body of one family's network.
trait Body: std::fmt::Debug + Send {
    fn forward(&self, xs: &Tensor, train: bool) -> Output;
}

/// A network built from a genotype.
#[derive(Debug)]
pub struct Network {
    /// The family's layers.
    body: Box<dyn Body>,
    /// Shared with every cell, so that training can ramp it.
    drop_path: DropPath,
    /// Which family, for errors.
    space: SpaceKind,
    /// The settings it was built with.
    config: NetConfig,
}

impl Network {
    /// Logits (and auxiliary logits while training); `train` selects batch
    /// statistics and drop path, as PyTorch's `model.train()`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Output {
        self.body.forward(xs, train)
    }

    /// Set the drop-path probability for the following training steps (the
    /// DARTS schedule raises it linearly by epoch). Only DARTS and PNAS cells
    /// drop paths; the other families accept only 0.
    pub fn set_drop_path(&self, p: f64) -> Result<(), ModelError> {
        check_drop_path(self.space, p)?;
        self.drop_path.set(p);
        Ok(())
    }

    /// The current drop-path probability.
    pub fn drop_path(&self) -> f64 {
        self.drop_path.get()
    }

    /// The settings the network was built with.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Which space's genotype it was built from.
    pub fn space(&self) -> SpaceKind {
        self.space
    }

    /// Check that `xs` is a batch of the configured input shape, the only
    /// one the build checked; a forward pass on another may panic in tch.
    pub fn check_input(&self, xs: &Tensor) -> Result<(), ModelError> {
        let c = &self.config;
        let sample = match self.space.input() {
            InputKind::Images => vec![c.in_channels, c.input_size, c.input_size],
            InputKind::Series => vec![c.in_channels, c.input_size],
            InputKind::Table => vec![c.table.columns()],
        };
        check_input_shape(xs, &sample)
    }
}

/// Check that `xs` is a batch of samples of shape `sample` (an image's
/// `[channels, size, size]`, a sequence's `[channels, length]`, a row's
/// `[columns]`), the only shape a network or supernet was built for; a
/// forward pass on another may panic in tch.
pub(crate) fn check_input_shape(xs: &Tensor, sample: &[i64]) -> Result<(), ModelError> {
    let got = xs.size();
    if got.len() == sample.len() + 1 && got[0] >= 1 && got[1..] == *sample {
        return Ok(());
    }
    let dims: Vec<String> = sample.iter().map(i64::to_string).collect();
    Err(ModelError::InputShape {
        want: format!("[batch, {}]", dims.join(", ")),
        got,
    })
}

impl ModuleT for Network {
    /// The logits only; [`Network::forward_t`] also gives the auxiliary ones.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.body.forward(xs, train).logits
    }
}

/// Build the network of `genotype` under `vs`, with settings `cfg`.
pub fn build(vs: &nn::Path, genotype: &Genotype, cfg: &NetConfig) -> Result<Network, ModelError> {
    let space = genotype.kind();
    cfg.validate(space)?;
    let drop_path = DropPath::default();
    drop_path.set(cfg.drop_path);
    let body: Box<dyn Body> = match genotype {
        Genotype::Darts(g) => Box::new(darts::DartsNet::new(vs, g, cfg, &drop_path)?),
        Genotype::Nb201(g) => Box::new(nb201::TinyNetwork::new(vs, g, cfg)?),
        Genotype::Pnas(g) => Box::new(pnas::PnasNet::new(vs, g, cfg, &drop_path)?),
        Genotype::Macro(g) => Box::new(macro_chain::MacroNet::new(vs, g, cfg)?),
        Genotype::Seq(g) => Box::new(nb201::TinyNetwork::seq(vs, g, cfg)?),
        Genotype::Mlp(g) => Box::new(mlp::MlpNet::new(vs, g, cfg)?),
    };
    Ok(Network {
        body,
        drop_path,
        space,
        config: cfg.clone(),
    })
}

/// Trainable parameters in `vs`, counted as the DARTS reference's
/// `count_parameters_in_MB` does (times 10^6): every parameter (batch-norm
/// running statistics are buffers, not parameters), leaving out those whose
/// path contains `auxiliary` unless `include_auxiliary`.
pub fn count_params(vs: &nn::VarStore, include_auxiliary: bool) -> i64 {
    let trainable: HashSet<usize> = vs
        .trainable_variables()
        .iter()
        .map(|t| t.data_ptr() as usize)
        .collect();
    vs.variables()
        .iter()
        .filter(|(name, t)| {
            trainable.contains(&(t.data_ptr() as usize))
                && (include_auxiliary || !name.contains("auxiliary"))
        })
        .map(|(_, t)| t.numel() as i64)
        .sum()
}

/// Build the network of `genotype` on the CPU in a scratch store and count
/// its parameters as [`count_params`] does.
pub fn params_of(
    genotype: &Genotype,
    cfg: &NetConfig,
    include_auxiliary: bool,
) -> Result<i64, ModelError> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    build(&vs.root(), genotype, cfg)?;
    Ok(count_params(&vs, include_auxiliary))
}

/// Global average pooling to `[batch, channels]`.
pub(crate) fn global_pool(xs: &Tensor) -> Tensor {
    xs.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
}

#[cfg(test)]
mod tests {
    use super::LIMITS;
    use queue::wire::bounds;

    /// A spec is refused at submit by the settings' bounds; those of the
    /// network's shape are the model's limits, so that whatever passes
    /// submit also passes the model's own check.
    #[test]
    fn settings_bounds_are_the_model_limits() {
        let limit = |field: &str| LIMITS.iter().find(|(f, _)| *f == field).unwrap().1;
        assert_eq!(bounds::CHANNELS, limit("channels"));
        assert_eq!(bounds::LAYERS, limit("layers"));
    }
}

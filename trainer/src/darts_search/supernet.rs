//! [`Supernet`]: the weights w of a DARTS supernet (DARTS cells or
//! NAS-Bench-201 cells) and its architecture parameters α, kept in two
//! separate stores so that each has its own optimizer and α is never
//! counted, decayed or clipped as a weight.

use super::darts_net::{darts_edges, DartsSupernet, DARTS_EDGES};
use super::derive::{derive_cell, derive_darts, DeriveError};
use super::nb201_net::Nb201Supernet;
use crate::model::nb201::Dims;
use crate::model::{count_params, ModelError, LIMITS};
use space::{DartsOp, Genotype, InputKind, Nb201Op, SeqOp, SpaceKind};
use std::collections::HashSet;
use tch::{nn, Device, Kind, Tensor};

/// The settings of a supernet.
#[derive(Debug, Clone, PartialEq)]
pub struct SupernetConfig {
    /// Initial channels C.
    pub channels: i64,
    /// DARTS: cells L; NAS-Bench-201: cells per stage N.
    pub layers: i64,
    /// Output classes.
    pub classes: i64,
    /// Channels of the input image or sequence.
    pub in_channels: i64,
    /// Height and width of the input image, or the sequence's length.
    pub input_size: i64,
}

impl SupernetConfig {
    /// The published search settings: DARTS C = 16, L = 8 (the paper's
    /// CIFAR-10 search); NAS-Bench-201 C = 16, N = 5; `seq` C = 16, N = 2.
    /// 10 classes, 3 x 32 x 32 (`seq`: 3 channels of 32 steps).
    pub fn for_space(kind: SpaceKind) -> Self {
        let layers = match kind {
            SpaceKind::Nb201 => 5,
            SpaceKind::Seq => 2,
            _ => 8,
        };
        Self {
            channels: 16,
            layers,
            classes: 10,
            in_channels: 3,
            input_size: 32,
        }
    }

    /// Check the settings against the model limits ([`LIMITS`]).
    pub fn validate(&self) -> Result<(), ModelError> {
        let values = [
            self.channels,
            self.layers,
            self.classes,
            self.in_channels,
            self.input_size,
        ];
        for (&(field, max), v) in LIMITS.iter().zip(values) {
            if !(1..=max).contains(&v) {
                return Err(ModelError::Config {
                    field,
                    reason: format!("{v} is not between 1 and {max}"),
                });
            }
        }
        Ok(())
    }
}

/// The layers of one space's supernet.
#[derive(Debug)]
enum Body {
    Darts(DartsSupernet),
    Nb201(Nb201Supernet),
}

/// A supernet: weights w in one store, α in another.
#[derive(Debug)]
pub struct Supernet {
    /// The weights w (and batch-norm running statistics).
    weights: nn::VarStore,
    /// The architecture parameters α, one `[edges, ops]` tensor per cell
    /// type, named as [`Supernet::alpha_names`].
    arch: nn::VarStore,
    /// Handles on α in [`Supernet::alpha_names`] order.
    alphas: Vec<Tensor>,
    body: Body,
    kind: SpaceKind,
    config: SupernetConfig,
}

/// The standard deviation of α's initialization, as in the reference.
pub const ALPHA_INIT_STD: f64 = 1e-3;

impl Supernet {
    /// Build the supernet of space `kind` (`darts` or `nb201`) on `device`:
    /// weights initialised as the discrete networks' (libtorch's global
    /// generator), α drawn as 1e-3 · N(0, 1) after them.
    pub fn new(kind: SpaceKind, cfg: &SupernetConfig, device: Device) -> Result<Self, ModelError> {
        cfg.validate()?;
        let weights = nn::VarStore::new(device);
        let arch = nn::VarStore::new(device);
        let body = match kind {
            SpaceKind::Darts => Body::Darts(DartsSupernet::new(&weights.root(), cfg)?),
            SpaceKind::Nb201 => Body::Nb201(Nb201Supernet::new(&weights.root(), cfg, Dims::Two)?),
            SpaceKind::Seq => Body::Nb201(Nb201Supernet::new(&weights.root(), cfg, Dims::One)?),
            other => {
                return Err(ModelError::Unsupported {
                    space: other,
                    feature: "DARTS supernet",
                })
            }
        };
        let (edges, ops) = alpha_shape(kind);
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: ALPHA_INIT_STD,
        };
        let alphas = alpha_names(kind)
            .iter()
            .map(|name| arch.root().var(name, &[edges as i64, ops as i64], init))
            .collect();
        Ok(Self {
            weights,
            arch,
            alphas,
            body,
            kind,
            config: cfg.clone(),
        })
    }

    /// Logits of a batch, with each edge mixing its ops by softmax(α).
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let weights: Vec<Tensor> = self.alphas.iter().map(|a| a.softmax(-1, None)).collect();
        match &self.body {
            Body::Darts(net) => net.forward(xs, &weights, train),
            Body::Nb201(net) => net.forward(xs, &weights, train),
        }
    }

    /// Check that `xs` is a batch of the configured input shape; a forward
    /// pass on another may panic in tch.
    pub fn check_input(&self, xs: &Tensor) -> Result<(), ModelError> {
        let c = &self.config;
        let sample = match self.kind.input() {
            InputKind::Series => vec![c.in_channels, c.input_size],
            _ => vec![c.in_channels, c.input_size, c.input_size],
        };
        crate::model::check_input_shape(xs, &sample)
    }

    /// The space searched.
    pub fn kind(&self) -> SpaceKind {
        self.kind
    }

    /// The settings it was built with.
    pub fn config(&self) -> &SupernetConfig {
        &self.config
    }

    /// The store of the weights w.
    pub fn weights(&self) -> &nn::VarStore {
        &self.weights
    }

    /// The store of α (for its optimizer).
    pub fn arch(&self) -> &nn::VarStore {
        &self.arch
    }

    /// α, one `[edges, ops]` tensor per name of [`Supernet::alpha_names`].
    pub fn alphas(&self) -> &[Tensor] {
        &self.alphas
    }

    /// The names of the α tensors: `normal`, `reduce` (DARTS) or `cell`
    /// (NAS-Bench-201, `seq`).
    pub fn alpha_names(&self) -> &'static [&'static str] {
        alpha_names(self.kind)
    }

    /// The trainable weights, in creation order (a stable order, for
    /// optimizer state).
    pub fn params(&self) -> Vec<Tensor> {
        self.weights.trainable_variables()
    }

    /// The batch-norm running statistics (every non-trainable variable of
    /// the weights' store), sorted by name.
    pub fn buffers(&self) -> Vec<Tensor> {
        let trainable: HashSet<usize> = self
            .params()
            .iter()
            .map(|t| t.data_ptr() as usize)
            .collect();
        let mut named: Vec<(String, Tensor)> = self
            .weights
            .variables()
            .into_iter()
            .filter(|(_, t)| !trainable.contains(&(t.data_ptr() as usize)))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.into_iter().map(|(_, t)| t).collect()
    }

    /// Weight parameters as the reference counts them: every weight, not
    /// α, not running statistics.
    pub fn param_count(&self) -> i64 {
        count_params(&self.weights, true)
    }

    /// Cast weights, running statistics and α to `kind` (`Kind::Double` for
    /// gradient checks).
    pub fn set_kind(&mut self, kind: Kind) {
        self.weights.set_kind(kind);
        self.arch.set_kind(kind);
    }

    /// softmax(α) per edge, one `[edges][ops]` table per α name.
    pub fn softmax_alphas(&self) -> Vec<Vec<Vec<f64>>> {
        self.alphas
            .iter()
            .map(|a| rows(&a.detach().softmax(-1, Kind::Double)))
            .collect()
    }

    /// α as it is, one `[edges][ops]` table per α name.
    pub fn raw_alphas(&self) -> Vec<Vec<Vec<f64>>> {
        self.alphas
            .iter()
            .map(|a| rows(&a.detach().to_kind(Kind::Double)))
            .collect()
    }

    /// The architecture α stands for (see [`super::derive`]).
    pub fn derive(&self) -> Result<Genotype, DeriveError> {
        let alphas = self.raw_alphas();
        Ok(match self.kind {
            SpaceKind::Nb201 => Genotype::Nb201(derive_cell(&alphas[0])?),
            SpaceKind::Seq => Genotype::Seq(derive_cell(&alphas[0])?),
            _ => Genotype::Darts(derive_darts(&alphas[0], &alphas[1])?),
        })
    }
}

/// Build the supernet of `kind` on the CPU and count its weights as
/// [`Supernet::param_count`] does.
pub fn supernet_params(kind: SpaceKind, cfg: &SupernetConfig) -> Result<i64, ModelError> {
    Ok(Supernet::new(kind, cfg, Device::Cpu)?.param_count())
}

/// The α names of a space.
fn alpha_names(kind: SpaceKind) -> &'static [&'static str] {
    if matches!(kind, SpaceKind::Nb201 | SpaceKind::Seq) {
        &["cell"]
    } else {
        &["normal", "reduce"]
    }
}

/// `[edges, ops]` of each α of a space.
pub fn alpha_shape(kind: SpaceKind) -> (usize, usize) {
    match kind {
        SpaceKind::Nb201 => (space::cell::EDGES.len(), Nb201Op::ALL.len()),
        SpaceKind::Seq => (space::cell::EDGES.len(), SeqOp::ALL.len()),
        _ => (DARTS_EDGES, DartsOp::ALL.len()),
    }
}

/// The edges of a space's α rows, written `input->node` (DARTS: states 0
/// and 1 are the cell inputs; NAS-Bench-201: node 0 is the cell input).
pub fn edge_labels(kind: SpaceKind) -> Vec<String> {
    if matches!(kind, SpaceKind::Nb201 | SpaceKind::Seq) {
        space::cell::EDGES
            .iter()
            .map(|(to, from)| format!("{from}->{to}"))
            .collect()
    } else {
        darts_edges()
            .into_iter()
            .map(|(from, to)| format!("{from}->{to}"))
            .collect()
    }
}

/// The op names of a space, in α's column order.
pub fn op_names(kind: SpaceKind) -> Vec<&'static str> {
    match kind {
        SpaceKind::Nb201 => Nb201Op::ALL.iter().map(|o| o.name()).collect(),
        SpaceKind::Seq => SeqOp::ALL.iter().map(|o| o.name()).collect(),
        _ => DartsOp::ALL.iter().map(|o| o.name()).collect(),
    }
}

/// A 2-d tensor as rows of f64.
fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    let t = t.to_device(Device::Cpu).to_kind(Kind::Double);
    let (n, m) = (t.size()[0], t.size()[1]);
    let flat = Vec::<f64>::try_from(t.reshape([-1])).unwrap_or_default();
    (0..n as usize)
        .map(|i| flat[i * m as usize..(i + 1) * m as usize].to_vec())
        .collect()
}

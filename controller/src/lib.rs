//! The controller of NAS-RL (Zoph & Le 2017) and NASNet (Zoph et al. 2018):
//! a recurrent network that emits an architecture token by token, each
//! decision a softmax (or, for macro anchor points, sigmoids) conditioned on
//! every decision before it, trained with REINFORCE on the architectures'
//! validation accuracies.
//!
//! [`Controller::sample`] draws a genotype of its space with its own seeded
//! generator; [`Controller::update`] takes one policy-gradient step for a
//! genotype's reward. Results arrive asynchronously while many children
//! train, so an update re-scores the genotype's decisions under the current
//! weights (teacher forcing) instead of keeping the graph of its sample.
//!
//! A controller is plain data: weights, Adam's moments and step, the reward
//! baseline, the generator and the config all serialize with serde, and a
//! controller read back samples and updates exactly as the original would
//! have. libtorch (through `tch`, on the CPU) only computes with it; "exactly"
//! holds bit for bit with the same libtorch build on the same kind of CPU,
//! since another machine's float kernels may round differently.

mod adam;
mod net;
mod params;
mod policy;

use adam::Adam;
use net::{Net, Walk};
use params::Params;
use policy::{Driver, HeadKind};
use rand::Rng;
use serde::{Deserialize, Serialize};
use space::{Genotype, Space, SpaceError, SpaceRng};
use std::collections::BTreeMap;
use std::fmt;
use tch::Tensor;
use thiserror::Error;

/// The controller's settings.
///
/// The defaults are the paper's where it gives them: NAS-RL's 2-layer LSTM
/// of 35 units and Adam at learning rate 0.0006; NASNet's baseline, an
/// exponential moving average of rewards with decay 0.95. The entropy
/// bonus is ENAS's weight 0.0001; gradients are clipped at norm 5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Hidden units per layer, and the width of every token embedding.
    pub hidden: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// β: weight of the entropy bonus in the loss.
    pub entropy_weight: f64,
    /// Decay of the reward baseline's moving average, in [0, 1).
    pub baseline_decay: f64,
    /// Largest global gradient norm; larger gradients are scaled down.
    pub grad_clip: f64,
    /// Logits are divided by it before every softmax and sigmoid; above 1
    /// flattens the policy.
    pub temperature: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            hidden: 35,
            lr: 0.0006,
            entropy_weight: 0.0001,
            baseline_decay: 0.95,
            grad_clip: 5.0,
            temperature: 1.0,
        }
    }
}

impl ControllerConfig {
    /// Check every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), ControllerError> {
        let bad = |field: &'static str, reason: &str| {
            Err(ControllerError::Config {
                field,
                reason: reason.to_string(),
            })
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.layers == 0 || self.layers > 16 {
            return bad(
                "layers",
                &format!("{} is not between 1 and 16", self.layers),
            );
        }
        if self.hidden == 0 || self.hidden > 4096 {
            return bad(
                "hidden",
                &format!("{} is not between 1 and 4096", self.hidden),
            );
        }
        if !positive(self.lr) {
            return bad("lr", &format!("{} is not a positive number", self.lr));
        }
        if !(self.entropy_weight.is_finite() && self.entropy_weight >= 0.0) {
            return bad(
                "entropy_weight",
                &format!("{} is not a number of at least 0", self.entropy_weight),
            );
        }
        if !(self.baseline_decay.is_finite() && (0.0..1.0).contains(&self.baseline_decay)) {
            return bad(
                "baseline_decay",
                &format!("{} is not in [0, 1)", self.baseline_decay),
            );
        }
        if !positive(self.grad_clip) {
            return bad(
                "grad_clip",
                &format!("{} is not a positive number", self.grad_clip),
            );
        }
        if !positive(self.temperature) {
            return bad(
                "temperature",
                &format!("{} is not a positive number", self.temperature),
            );
        }
        Ok(())
    }
}

/// What went wrong, naming the thing.
#[derive(Debug, Error)]
pub enum ControllerError {
    /// A setting out of range.
    #[error("controller {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The space's settings are invalid.
    #[error("controller space: {0}")]
    Space(#[from] SpaceError),
    /// A genotype that the controller cannot emit, so has no probability.
    #[error("genotype {genotype}: {reason}")]
    Unreachable {
        /// The genotype's text form.
        genotype: String,
        /// Why the controller cannot emit it.
        reason: String,
    },
    /// A reward that is not a number.
    #[error("reward {0}: must be a finite number (validation accuracy in [0, 1])")]
    Reward(f64),
    /// A persisted controller whose parts do not fit together.
    #[error("controller state: {name}: {reason}")]
    State {
        /// The parameter or field.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What one [`Controller::update`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// The reward R.
    pub reward: f64,
    /// R - b, with b the baseline of the rewards before this one (0 for
    /// the first reward, which initializes the baseline).
    pub advantage: f64,
    /// The baseline after this reward.
    pub baseline: f64,
    /// log π(genotype) before the step.
    pub log_prob: f64,
    /// The entropy bonus's entropy before the step.
    pub entropy: f64,
    /// The global gradient norm, before clipping.
    pub grad_norm: f64,
}

/// The RL controller over one space; see the crate docs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked", deny_unknown_fields)]
pub struct Controller {
    /// The space whose genotypes it emits.
    space: Space,
    /// Its settings.
    config: ControllerConfig,
    /// The weights, by name.
    params: Params,
    /// The optimizer's step and moments.
    adam: Adam,
    /// The moving average of rewards; none before the first.
    baseline: Option<f64>,
    /// Every random draw: the initial weights, then the samples.
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
}

/// A controller as read, before its parts are checked against each other.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unchecked {
    space: Space,
    config: ControllerConfig,
    params: Params,
    adam: Adam,
    baseline: Option<f64>,
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
}

impl TryFrom<Unchecked> for Controller {
    type Error = ControllerError;

    fn try_from(u: Unchecked) -> Result<Self, ControllerError> {
        u.config.validate()?;
        u.space.validate()?;
        params::check(&u.params, &u.space, &u.config)?;
        for (which, moments) in [("adam.m", &u.adam.m), ("adam.v", &u.adam.v)] {
            for (name, values) in moments {
                let bad = |reason: &str| ControllerError::State {
                    name: format!("{which}.{name}"),
                    reason: reason.to_string(),
                };
                let p = u.params.get(name).ok_or_else(|| bad("no such parameter"))?;
                if values.0.len() != p.values.0.len() {
                    return Err(bad("not the parameter's size"));
                }
                if values.0.iter().any(|x| !x.is_finite()) {
                    return Err(bad("a value is not finite"));
                }
            }
        }
        if u.baseline.is_some_and(|b| !b.is_finite()) {
            return Err(ControllerError::State {
                name: "baseline".into(),
                reason: "not a finite number".into(),
            });
        }
        Ok(Self {
            space: u.space,
            config: u.config,
            params: u.params,
            adam: u.adam,
            baseline: u.baseline,
            rng: u.rng,
        })
    }
}

impl fmt::Debug for Controller {
    /// A summary: the weights themselves would fill pages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("space", &self.space)
            .field("config", &self.config)
            .field("parameters", &self.parameter_count())
            .field("updates", &self.adam.step)
            .field("baseline", &self.baseline)
            .field("rng_word_pos", &self.rng.get_word_pos())
            .finish()
    }
}

impl Controller {
    /// A fresh controller over `space`: weights uniform in [-0.08, 0.08]
    /// (NAS-RL's initialization), every random draw from
    /// `space::rng(seed)`.
    pub fn new(space: Space, config: ControllerConfig, seed: u64) -> Result<Self, ControllerError> {
        config.validate()?;
        space.validate()?;
        let mut rng = space::rng(seed);
        let params = params::init(&space, &config, &mut rng);
        Ok(Self {
            space,
            config,
            params,
            adam: Adam::default(),
            baseline: None,
            rng,
        })
    }

    /// The space it emits genotypes of.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Its settings.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The reward baseline; none before the first update.
    pub fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    /// How many updates it took.
    pub fn updates(&self) -> u64 {
        self.adam.step
    }

    /// The number of weights.
    pub fn parameter_count(&self) -> usize {
        self.params.values().map(|p| p.values.0.len()).sum()
    }

    /// A genotype drawn from the policy, canonical and in the space (PNAS:
    /// of exactly `blocks` blocks). Reproducible: the draws come from the
    /// controller's own generator, which is part of its state.
    pub fn sample(&mut self) -> Genotype {
        let net = Net::new(&self.params, &self.config, false);
        let mut sampler = Sampler {
            walk: Walk::new(&net, 1),
            rng: &mut self.rng,
        };
        tch::no_grad(|| policy::decide(&self.space, &mut sampler))
            .expect("the decision programs build valid genotypes from valid masks")
    }

    /// log π(genotype) under the current weights: the log of the sum of the
    /// probabilities of every decision sequence that gives it.
    pub fn log_prob(&self, genotype: &Genotype) -> Result<f64, ControllerError> {
        let paths = policy::paths(&self.space, genotype)?;
        let net = Net::new(&self.params, &self.config, false);
        let (log_probs, _) = tch::no_grad(|| net.score(&paths));
        Ok(log_probs.logsumexp(0, false).double_value(&[]))
    }

    /// One REINFORCE step for `genotype`'s `reward` (its validation accuracy
    /// in [0, 1]).
    ///
    /// The advantage is R − b with b the moving average of the rewards
    /// before this one, so that it does not depend on this sample; then
    /// b ← decay·b + (1 − decay)·R (the first reward sets b, and its step
    /// has advantage 0). The loss −(R − b)·log π(genotype) − β·H is
    /// differentiated by teacher forcing the genotype's decisions under the
    /// current weights; H is the entropy of the distributions along its
    /// decisions. The gradient is clipped to `grad_clip` and Adam takes a
    /// step of `lr`.
    ///
    /// Fails, changing nothing, for a reward that is not finite or a
    /// genotype the controller cannot emit.
    pub fn update(&mut self, genotype: &Genotype, reward: f64) -> Result<Update, ControllerError> {
        if !reward.is_finite() {
            return Err(ControllerError::Reward(reward));
        }
        let paths = policy::paths(&self.space, genotype)?;
        let net = Net::new(&self.params, &self.config, true);
        let (log_probs, entropies) = net.score(&paths);
        // A genotype with several decision sequences (summed pairs in either
        // order) has their total probability; its entropy is that of its
        // sequences, weighted by how likely each is given the genotype.
        let log_pi = log_probs.logsumexp(0, false);
        let weights = log_probs.softmax(0, tch::Kind::Float).detach();
        let entropy = (weights * entropies).sum(tch::Kind::Float);
        let advantage = self.baseline.map_or(0.0, |b| reward - b);
        let loss = -(&log_pi * advantage) - &entropy * self.config.entropy_weight;
        loss.backward();
        let mut grads: BTreeMap<String, Vec<f32>> = net
            .leaves()
            .iter()
            .map(|(name, t)| (name.clone(), gradient(t)))
            .collect();
        let grad_norm = adam::clip(&mut grads, self.config.grad_clip);
        self.adam.step(&mut self.params, &grads, self.config.lr);
        let decay = self.config.baseline_decay;
        let baseline = self
            .baseline
            .map_or(reward, |b| decay * b + (1.0 - decay) * reward);
        self.baseline = Some(baseline);
        Ok(Update {
            reward,
            advantage,
            baseline,
            log_prob: log_pi.double_value(&[]),
            entropy: entropy.double_value(&[]),
            grad_norm,
        })
    }
}

/// A parameter's gradient, flat; zeros for one the loss did not reach (the
/// attention of a one-layer macro chain).
fn gradient(t: &Tensor) -> Vec<f32> {
    let g = t.grad();
    if g.defined() {
        Vec::<f32>::try_from(&g.reshape([-1])).expect("gradients are f32")
    } else {
        vec![0.0; t.numel()]
    }
}

/// Draws each decision from the network with the controller's generator,
/// by inverting the cumulative distribution at a uniform draw.
struct Sampler<'n, 'r> {
    walk: Walk<'n>,
    rng: &'r mut SpaceRng,
}

impl Driver for Sampler<'_, '_> {
    fn choose(&mut self, head: HeadKind, mask: &[bool]) -> Result<usize, ControllerError> {
        let allowed = Tensor::from_slice(mask).reshape([1, mask.len() as i64]);
        let log_probs = self.walk.choice(head, &allowed);
        let probs =
            Vec::<f32>::try_from(&log_probs.exp().reshape([-1])).expect("probabilities are f32");
        let total: f64 = probs
            .iter()
            .zip(mask)
            .filter(|(_, &ok)| ok)
            .map(|(&p, _)| f64::from(p))
            .sum();
        let mut u = self.rng.random::<f64>() * total;
        let mut token = None;
        for (i, (&p, &ok)) in probs.iter().zip(mask).enumerate() {
            if !ok {
                continue;
            }
            token = Some(i);
            u -= f64::from(p);
            if u < 0.0 {
                break;
            }
        }
        // Rounding may leave u at 0 past the end: the last allowed choice.
        let token = token.expect("every decision program allows a choice at every step");
        self.walk
            .commit_choice(head, &log_probs, &Tensor::from_slice(&[token as i64]));
        Ok(token)
    }

    fn anchors(&mut self, layer: usize) -> Result<Vec<bool>, ControllerError> {
        let logits = self.walk.anchor_logits();
        let probs =
            Vec::<f32>::try_from(&logits.sigmoid().reshape([-1])).expect("probabilities are f32");
        let bits: Vec<bool> = probs
            .iter()
            .map(|&p| self.rng.random::<f64>() < f64::from(p))
            .collect();
        debug_assert_eq!(bits.len(), layer);
        let values: Vec<f32> = bits.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let bits_t = Tensor::from_slice(&values).reshape([1, layer as i64]);
        self.walk.commit_anchors(&logits, &bits_t);
        Ok(bits)
    }
}

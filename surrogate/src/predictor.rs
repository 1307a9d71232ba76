//! [`Surrogate`]: a fitted accuracy predictor, LSTM or MLP ensemble, with
//! its fitting loop (Adam on the MSE of the scaled accuracy, shuffled
//! minibatches, a fixed epoch budget cut short when the training loss stops
//! improving) and batched prediction.
//!
//! Results at a lower fidelity (fewer epochs of a multi-fidelity search)
//! are training data too: every network has a learned fidelity slope `a`,
//! and a result at share `f` of full fidelity is fitted as the network's
//! output plus `a·ln f` (on the logit for the token networks, on the
//! standardized accuracy for the dense ones). A low-rung result thus says
//! how good the architecture is, shifted by what the missing training
//! costs; candidates are scored at full fidelity, where the shift is 0. A
//! fit whose results are all at full fidelity never moves the slope, and
//! is the same fit as without one.
//!
//! Every random choice (initial weights, minibatch order, bootstrap
//! samples) comes from `space::rng`, seeded by the caller: the same pairs,
//! config and seed give the same model and the same scores. All of it is
//! blocking CPU work; async callers run it on a blocking thread.

use crate::encode::{encode, Vocabulary};
use crate::features::Encoding;
use crate::model::{Batch, Dims, Net};
use crate::SurrogateError;
use rand::seq::SliceRandom;
use rand::Rng;
use space::{Genotype, SpaceKind};
use std::fmt;
use std::str::FromStr;
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Reduction, Tensor};

/// Which predictor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PredictorKind {
    /// The PNAS LSTM: embedding 100, hidden 100, final hidden state, linear,
    /// sigmoid. One network, so its spread is 0.
    #[default]
    Lstm,
    /// An ensemble of MLPs over the mean of group embeddings, each with its
    /// own embedding, initial weights and bootstrap sample; the spread is
    /// the standard deviation across members.
    Mlp,
    /// An ensemble of dense networks over the adjacency and operation
    /// one-hot of the cell ([`Encoding::OneHot`]), trained on a pairwise
    /// ranking loss with a little MSE; every space.
    #[serde(rename = "onehot")]
    OneHot,
    /// The same ensemble over the path encoding ([`Encoding::Path`]); the
    /// cell spaces (nb201, seq) only.
    Path,
}

impl PredictorKind {
    /// Every predictor.
    pub const ALL: [PredictorKind; 4] = [Self::Lstm, Self::Mlp, Self::OneHot, Self::Path];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lstm => "lstm",
            Self::Mlp => "mlp",
            Self::OneHot => "onehot",
            Self::Path => "path",
        }
    }

    /// The feature encoding of a dense predictor; `None` for the token
    /// predictors (LSTM, MLP).
    pub fn encoding(self) -> Option<Encoding> {
        match self {
            Self::Lstm | Self::Mlp => None,
            Self::OneHot => Some(Encoding::OneHot),
            Self::Path => Some(Encoding::Path),
        }
    }

    /// Whether this predictor can be fitted on `space`'s genotypes.
    pub fn supports(self, space: SpaceKind) -> bool {
        self.encoding().is_none_or(|e| e.supports(space))
    }

    /// The predictor that ranks `space` best in `nas bench surrogate`: the
    /// path encoding where cells have paths, the one-hot elsewhere.
    pub fn best_for(space: SpaceKind) -> Self {
        if Self::Path.supports(space) {
            Self::Path
        } else {
            Self::OneHot
        }
    }
}

impl fmt::Display for PredictorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PredictorKind {
    type Err = SurrogateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                SurrogateError::Config(format!(
                    "unknown predictor {s:?}; expected {}",
                    names.join(", ")
                ))
            })
    }
}

/// How a predictor is trained.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Token embedding width (100 in the paper).
    pub embedding: i64,
    /// LSTM hidden size, or each MLP hidden layer's width (100).
    pub hidden: i64,
    /// MLPs in the ensemble (5).
    pub members: usize,
    /// The most passes over the training pairs.
    pub epochs: usize,
    /// Pairs per Adam step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Adam's L2 weight decay.
    pub weight_decay: f64,
    /// Stop once the epoch's training loss has not improved on the best by
    /// `min_improvement` (relative) for this many epochs.
    pub patience: usize,
    /// The relative improvement that counts for `patience`.
    pub min_improvement: f64,
    /// The most passes when warm-starting from a previous model
    /// ([`Surrogate::refit`]).
    pub refit_epochs: usize,
    /// Hidden units per layer of the dense predictors (onehot, path).
    pub dense_hidden: i64,
    /// Hidden layers of the dense predictors.
    pub dense_layers: usize,
    /// Passes over the training pairs of a dense predictor's fit (no early
    /// stop: its ranking loss keeps falling while the ranking improves).
    pub dense_epochs: usize,
    /// Weight of the MSE term next to the dense predictors' pairwise
    /// ranking loss (hinge, margin 0.1 standard deviations).
    pub dense_mse_weight: f64,
    /// libtorch intra-op threads, set on the calling thread by every fit and
    /// prediction. 1 by default: these networks are too small to gain from
    /// more, and on a busy machine idle-spinning worker threads made fits
    /// eight times slower.
    pub threads: i32,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            embedding: 100,
            hidden: 100,
            members: 5,
            epochs: 200,
            batch_size: 32,
            learning_rate: 0.003,
            weight_decay: 0.0,
            patience: 20,
            min_improvement: 0.01,
            refit_epochs: 60,
            dense_hidden: 64,
            dense_layers: 3,
            dense_epochs: 100,
            dense_mse_weight: 0.1,
            threads: 1,
        }
    }
}

impl FitConfig {
    /// Check the settings, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        let bad = |what: &str| Err(SurrogateError::Config(what.to_string()));
        if !(1..=4096).contains(&self.embedding) || !(1..=4096).contains(&self.hidden) {
            return bad("embedding and hidden must be between 1 and 4096");
        }
        if !(1..=64).contains(&self.members) {
            return bad("members must be between 1 and 64");
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be a positive number");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay must be a number >= 0");
        }
        if !(self.min_improvement.is_finite() && self.min_improvement >= 0.0) {
            return bad("min_improvement must be a number >= 0");
        }
        if !(1..=4096).contains(&self.dense_hidden) || !(1..=16).contains(&self.dense_layers) {
            return bad("dense_hidden must be between 1 and 4096, dense_layers between 1 and 16");
        }
        if self.dense_epochs == 0 {
            return bad("dense_epochs must be at least 1");
        }
        if !(self.dense_mse_weight.is_finite() && self.dense_mse_weight >= 0.0) {
            return bad("dense_mse_weight must be a number >= 0");
        }
        if !(1..=256).contains(&self.threads) {
            return bad("threads must be between 1 and 256");
        }
        Ok(())
    }
}

/// The optimizer group of the fidelity slope, and its learning rate: one
/// scalar that must travel to about 1 (a standardized accuracy per unit of
/// `ln f`), faster than the networks' small steps would take it.
const SLOPE_GROUP: usize = 1;
const SLOPE_LR: f64 = 0.05;

/// One prediction.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// Predicted accuracy in percent (the ensemble mean for the MLPs).
    pub mean: f64,
    /// Standard deviation across ensemble members, in points; 0 for the LSTM.
    pub spread: f64,
}

/// One trained network with its variables.
struct Member {
    vs: VarStore,
    net: Net,
    /// The fidelity slope `a` (`[1]`, starts at 0).
    slope: Tensor,
}

impl Member {
    /// A member around `net`: its slope joins `vs` (drawn from no
    /// generator, so the other weights are the same with or without it),
    /// then a warm start copies `previous`'s weights, slope included.
    fn new(vs: VarStore, net: Net, previous: Option<&Member>) -> Result<Self, SurrogateError> {
        let slope = (vs.root().set_group(SLOPE_GROUP)).f_zeros("fidelity_slope", &[1])?;
        let mut vs = vs;
        if let Some(previous) = previous {
            vs.copy(&previous.vs)?;
        }
        Ok(Self { vs, net, slope })
    }

    /// `out` shifted by `a·ln f` for each row's fidelity, when the fit has
    /// fidelities.
    fn at_fidelity(&self, out: Tensor, log_f: Option<&Tensor>) -> Result<Tensor, SurrogateError> {
        Ok(match log_f {
            Some(l) => out.f_add(&l.f_mul(&self.slope)?)?,
            None => out,
        })
    }
}

/// A fitted predictor for one space.
///
/// Holds libtorch tensors, so it is `Send` but not `Sync`: share it behind
/// a mutex.
pub struct Surrogate {
    kind: PredictorKind,
    space: SpaceKind,
    vocab: Vocabulary,
    config: FitConfig,
    seed: u64,
    members: Vec<Member>,
    version: usize,
    epochs_run: Vec<usize>,
    /// The dense predictors' target scale: accuracy = output * sd + mean.
    scale: (f64, f64),
}

impl fmt::Debug for Surrogate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Surrogate")
            .field("kind", &self.kind)
            .field("space", &self.space)
            .field("version", &self.version)
            .field("seed", &self.seed)
            .field("epochs_run", &self.epochs_run)
            .finish()
    }
}

/// Accuracy in percent to the training target in [0, 1], and back.
fn to_target(accuracy: f64) -> f64 {
    (accuracy / 100.0).clamp(0.0, 1.0)
}

fn to_accuracy(target: f64) -> f64 {
    target * 100.0
}

/// The training pairs, checked and encoded.
struct Data {
    tokens: Vec<Vec<i64>>,
    targets: Vec<f32>,
    /// `ln f` of each pair's fidelity; `None` when all are at full fidelity.
    log_fidelity: Option<Vec<f32>>,
}

/// `ln f` of each pair's fidelity (`fidelity` empty: all full), checked;
/// `None` when every pair is at full fidelity.
fn log_fidelity(pairs: usize, fidelity: &[f64]) -> Result<Option<Vec<f32>>, SurrogateError> {
    if fidelity.is_empty() {
        return Ok(None);
    }
    if fidelity.len() != pairs {
        return Err(SurrogateError::Config(format!(
            "{} fidelities for {pairs} training results",
            fidelity.len()
        )));
    }
    if let Some((index, f)) =
        (fidelity.iter().enumerate()).find(|(_, f)| !(f.is_finite() && **f > 0.0 && **f <= 1.0))
    {
        return Err(SurrogateError::Training {
            index,
            reason: format!("fidelity {f} is not a share of full fidelity in (0, 1]"),
        });
    }
    if fidelity.iter().all(|&f| f == 1.0) {
        return Ok(None);
    }
    Ok(Some(fidelity.iter().map(|f| f.ln() as f32).collect()))
}

fn prepare(
    space: SpaceKind,
    pairs: &[(Genotype, f64)],
    fidelity: &[f64],
) -> Result<Data, SurrogateError> {
    if pairs.is_empty() {
        return Err(SurrogateError::NoTrainingData);
    }
    let mut data = Data {
        tokens: Vec::with_capacity(pairs.len()),
        targets: Vec::with_capacity(pairs.len()),
        log_fidelity: log_fidelity(pairs.len(), fidelity)?,
    };
    for (index, (g, accuracy)) in pairs.iter().enumerate() {
        if g.kind() != space {
            return Err(SurrogateError::Training {
                index,
                reason: format!("a {} genotype in a {space} fit", g.kind()),
            });
        }
        if !(accuracy.is_finite() && (0.0..=100.0).contains(accuracy)) {
            return Err(SurrogateError::Training {
                index,
                reason: format!("accuracy {accuracy} is not a percentage between 0 and 100"),
            });
        }
        data.tokens.push(encode(g));
        data.targets.push(to_target(*accuracy) as f32);
    }
    Ok(data)
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

impl Surrogate {
    /// Fit a `kind` predictor for `space` on `pairs` (genotype, accuracy in
    /// percent), reproducibly for `seed`.
    pub fn fit(
        kind: PredictorKind,
        space: SpaceKind,
        pairs: &[(Genotype, f64)],
        config: &FitConfig,
        seed: u64,
    ) -> Result<Self, SurrogateError> {
        Self::train(kind, space, pairs, &[], config, seed, None)
    }

    /// [`Self::fit`] on results of a multi-fidelity search: `fidelity[i]`
    /// is the share of full fidelity (epochs over the top rung's) that
    /// `pairs[i]` was trained at, in (0, 1]; empty when all are full.
    pub fn fit_at(
        kind: PredictorKind,
        space: SpaceKind,
        pairs: &[(Genotype, f64)],
        fidelity: &[f64],
        config: &FitConfig,
        seed: u64,
    ) -> Result<Self, SurrogateError> {
        Self::train(kind, space, pairs, fidelity, config, seed, None)
    }

    /// Fit on `pairs` (typically the previous pairs and new results),
    /// starting from this model's weights: at most `refit_epochs` passes
    /// instead of `epochs`. Deterministic given this model and `pairs`.
    pub fn refit(
        &self,
        pairs: &[(Genotype, f64)],
        config: &FitConfig,
    ) -> Result<Self, SurrogateError> {
        self.refit_at(pairs, &[], config)
    }

    /// [`Self::refit`] with fidelities, as [`Self::fit_at`] takes them.
    pub fn refit_at(
        &self,
        pairs: &[(Genotype, f64)],
        fidelity: &[f64],
        config: &FitConfig,
    ) -> Result<Self, SurrogateError> {
        let warm = FitConfig {
            embedding: self.config.embedding,
            hidden: self.config.hidden,
            members: self.config.members,
            ..config.clone()
        };
        let seed = self.seed.wrapping_add(self.version as u64);
        Self::train(
            self.kind,
            self.space,
            pairs,
            fidelity,
            &warm,
            seed,
            Some(self),
        )
    }

    fn train(
        kind: PredictorKind,
        space: SpaceKind,
        pairs: &[(Genotype, f64)],
        fidelity: &[f64],
        config: &FitConfig,
        seed: u64,
        warm: Option<&Surrogate>,
    ) -> Result<Self, SurrogateError> {
        config.validate()?;
        tch::set_num_threads(config.threads);
        if kind.encoding().is_some() {
            return Self::train_dense(kind, space, pairs, fidelity, config, seed, warm);
        }
        let data = prepare(space, pairs, fidelity)?;
        let vocab = Vocabulary::of(space);
        let dims = dims(vocab, config);
        let mean_target =
            data.targets.iter().map(|&t| t as f64).sum::<f64>() / data.targets.len() as f64;
        let mut rng = space::rng(seed);
        let count = match kind {
            PredictorKind::Lstm => 1,
            _ => config.members,
        };
        let epochs = if warm.is_some() {
            config.refit_epochs.max(1)
        } else {
            config.epochs
        };
        let mut members = Vec::with_capacity(count);
        let mut epochs_run = Vec::with_capacity(count);
        for m in 0..count {
            let mut member_rng = space::rng(rng.random());
            let vs = VarStore::new(Device::Cpu);
            let net = match kind {
                PredictorKind::Lstm => Net::lstm(&vs, dims, &mut member_rng, logit(mean_target))?,
                _ => Net::mlp(&vs, dims, &mut member_rng, logit(mean_target))?,
            };
            let member = Member::new(vs, net, warm.map(|w| &w.members[m]))?;
            // The LSTM trains on every pair; each MLP on its own bootstrap
            // sample, which is what makes the ensemble's spread meaningful.
            let sample: Vec<usize> = match kind {
                PredictorKind::Lstm => (0..data.targets.len()).collect(),
                _ => (0..data.targets.len())
                    .map(|_| member_rng.random_range(0..data.targets.len()))
                    .collect(),
            };
            epochs_run.push(train_member(
                &member,
                &data,
                &sample,
                dims,
                config,
                epochs,
                &mut member_rng,
            )?);
            members.push(member);
        }
        Ok(Self {
            kind,
            space,
            vocab,
            config: config.clone(),
            seed,
            members,
            version: pairs.len(),
            epochs_run,
            scale: (0.0, 1.0),
        })
    }

    /// [`Self::train`] for the dense predictors: standardized targets, the
    /// whole ensemble on every pair (members differ by their initial
    /// weights and minibatch order, which is what their spread measures).
    fn train_dense(
        kind: PredictorKind,
        space: SpaceKind,
        pairs: &[(Genotype, f64)],
        fidelity: &[f64],
        config: &FitConfig,
        seed: u64,
        warm: Option<&Surrogate>,
    ) -> Result<Self, SurrogateError> {
        let encoding = kind
            .encoding()
            .ok_or_else(|| SurrogateError::Config(format!("the {kind} predictor is not dense")))?;
        if !encoding.supports(space) {
            return Err(SurrogateError::Config(format!(
                "the {kind} predictor has no encoding for {space} genotypes (it is for the cell spaces nb201 and seq; use onehot)"
            )));
        }
        let data = prepare(space, pairs, fidelity)?;
        let width = encoding.width(space);
        let genotypes: Vec<&Genotype> = pairs.iter().map(|(g, _)| g).collect();
        let x = feature_matrix(encoding, width, &genotypes)?;
        let accuracies: Vec<f64> = data
            .targets
            .iter()
            .map(|&t| to_accuracy(t as f64))
            .collect();
        let n = accuracies.len() as f64;
        let mean = accuracies.iter().sum::<f64>() / n;
        let sd = (accuracies
            .iter()
            .map(|a| (a - mean) * (a - mean))
            .sum::<f64>()
            / n)
            .sqrt()
            .max(1e-3);
        let y: Vec<f32> = accuracies
            .iter()
            .map(|a| ((a - mean) / sd) as f32)
            .collect();
        let y = Tensor::f_from_slice(&y)?;
        let log_f = match &data.log_fidelity {
            Some(l) => Some(Tensor::f_from_slice(l)?),
            None => None,
        };
        let epochs = if warm.is_some() {
            config.refit_epochs.clamp(1, config.dense_epochs)
        } else {
            config.dense_epochs
        };
        let mut rng = space::rng(seed);
        let mut members = Vec::with_capacity(config.members);
        for m in 0..config.members {
            let mut member_rng = space::rng(rng.random());
            let vs = VarStore::new(Device::Cpu);
            let net = Net::dense(
                &vs,
                width as i64,
                config.dense_hidden,
                config.dense_layers,
                &mut member_rng,
            )?;
            let member = Member::new(vs, net, warm.map(|w| &w.members[m]))?;
            train_dense_member(
                &member,
                &x,
                &y,
                log_f.as_ref(),
                config,
                epochs,
                &mut member_rng,
            )?;
            members.push(member);
        }
        Ok(Self {
            kind,
            space,
            vocab: Vocabulary::of(space),
            config: config.clone(),
            seed,
            members,
            version: pairs.len(),
            epochs_run: vec![epochs; config.members],
            scale: (mean, sd),
        })
    }

    /// [`Self::predict`] for the dense predictors.
    fn predict_dense(
        &self,
        encoding: Encoding,
        genotypes: &[Genotype],
    ) -> Result<Vec<Score>, SurrogateError> {
        let width = encoding.width(self.space);
        let (mean, sd) = self.scale;
        let mut out = Vec::with_capacity(genotypes.len());
        tch::set_num_threads(self.config.threads);
        tch::no_grad(|| -> Result<(), SurrogateError> {
            for chunk in genotypes.chunks(CHUNK_GENOTYPES) {
                let x = feature_matrix(encoding, width, &chunk.iter().collect::<Vec<_>>())?;
                let mut per_member = Vec::with_capacity(self.members.len());
                for member in &self.members {
                    per_member.push(Vec::<f32>::try_from(&member.net.forward_dense(&x)?)?);
                }
                let k = per_member.len() as f64;
                for i in 0..chunk.len() {
                    let values = per_member.iter().map(|p| p[i] as f64 * sd + mean);
                    let (s, q) = values.fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
                    let m = s / k;
                    out.push(Score {
                        mean: m,
                        spread: (q / k - m * m).max(0.0).sqrt(),
                    });
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Scores for `genotypes`, in order: predicted accuracy in percent and
    /// the ensemble's spread. Padding never changes a score, so the result
    /// does not depend on how candidates are batched.
    pub fn predict(&self, genotypes: &[Genotype]) -> Result<Vec<Score>, SurrogateError> {
        if let Some((index, g)) =
            (genotypes.iter().enumerate()).find(|(_, g)| g.kind() != self.space)
        {
            return Err(SurrogateError::Candidate {
                index,
                reason: format!("a {} genotype for a {} surrogate", g.kind(), self.space),
            });
        }
        if let Some(encoding) = self.kind.encoding() {
            return self.predict_dense(encoding, genotypes);
        }
        let tokens: Vec<Vec<i64>> = genotypes.iter().map(encode).collect();
        let dims = dims(self.vocab, &self.config);
        tch::set_num_threads(self.config.threads);
        // Shortest first, so each chunk pads little; chunks bounded in
        // tokens so that long macro chains cannot exhaust memory.
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| tokens[i].len());
        let mut sums = vec![0f64; tokens.len()];
        let mut squares = vec![0f64; tokens.len()];
        tch::no_grad(|| -> Result<(), SurrogateError> {
            for chunk in chunks(&order, &tokens) {
                let seqs: Vec<&[i64]> = chunk.iter().map(|&i| tokens[i].as_slice()).collect();
                let batch = Batch::new(&seqs, self.vocab.group)?;
                for member in &self.members {
                    let p = member.net.forward(&batch, dims)?.f_sigmoid()?;
                    let p = Vec::<f32>::try_from(&p)?;
                    for (&i, &v) in chunk.iter().zip(&p) {
                        let acc = to_accuracy(v as f64);
                        sums[i] += acc;
                        squares[i] += acc * acc;
                    }
                }
            }
            Ok(())
        })?;
        let n = self.members.len() as f64;
        Ok(sums
            .iter()
            .zip(&squares)
            .map(|(&s, &q)| {
                let mean = s / n;
                Score {
                    mean,
                    spread: (q / n - mean * mean).max(0.0).sqrt(),
                }
            })
            .collect())
    }

    /// The number of results it was fitted on.
    pub fn version(&self) -> usize {
        self.version
    }

    /// Which predictor.
    pub fn kind(&self) -> PredictorKind {
        self.kind
    }

    /// The space it predicts for.
    pub fn space(&self) -> SpaceKind {
        self.space
    }

    /// Epochs each member trained before its loss stopped improving.
    pub fn epochs_run(&self) -> &[usize] {
        &self.epochs_run
    }
}

fn dims(vocab: Vocabulary, config: &FitConfig) -> Dims {
    Dims {
        vocab: vocab.size as i64,
        group: vocab.group as i64,
        embedding: config.embedding,
        hidden: config.hidden,
    }
}

/// Most tokens (batch x padded length) in one forward pass of `predict`.
const CHUNK_TOKENS: usize = 1 << 18;
/// Most genotypes in one forward pass of `predict`.
const CHUNK_GENOTYPES: usize = 4096;

/// Split `order` (sorted by length) into chunks within both bounds.
fn chunks<'a>(order: &'a [usize], tokens: &[Vec<i64>]) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len()
            && end - start < CHUNK_GENOTYPES
            && (end + 1 - start) * tokens[order[end]].len() <= CHUNK_TOKENS
        {
            end += 1;
        }
        out.push(&order[start..end]);
        start = end;
    }
    out
}

/// Train one member on `sample` (indices into `data`); returns the epochs run.
fn train_member(
    member: &Member,
    data: &Data,
    sample: &[usize],
    dims: Dims,
    config: &FitConfig,
    epochs: usize,
    rng: &mut space::SpaceRng,
) -> Result<usize, SurrogateError> {
    let mut opt = tch::nn::Adam::default()
        .wd(config.weight_decay)
        .build(&member.vs, config.learning_rate)?;
    opt.set_lr_group(SLOPE_GROUP, SLOPE_LR);
    let mut order = sample.to_vec();
    let mut best = f64::INFINITY;
    let mut since_best = 0;
    for epoch in 1..=epochs {
        order.shuffle(rng);
        let mut total = 0.0;
        for chunk in order.chunks(config.batch_size) {
            let seqs: Vec<&[i64]> = chunk.iter().map(|&i| data.tokens[i].as_slice()).collect();
            let targets: Vec<f32> = chunk.iter().map(|&i| data.targets[i]).collect();
            let batch = Batch::new(&seqs, dims.group as usize)?;
            let y = Tensor::f_from_slice(&targets)?;
            let log_f = match &data.log_fidelity {
                Some(l) => Some(Tensor::f_from_slice(
                    &chunk.iter().map(|&i| l[i]).collect::<Vec<f32>>(),
                )?),
                None => None,
            };
            let logits = member.net.forward(&batch, dims)?;
            let p = member.at_fidelity(logits, log_f.as_ref())?.f_sigmoid()?;
            let loss = p.f_mse_loss(&y, Reduction::Mean)?;
            opt.zero_grad();
            loss.f_backward()?;
            opt.step();
            total += loss.f_double_value(&[])? * chunk.len() as f64;
        }
        let loss = total / order.len() as f64;
        if !loss.is_finite() {
            return Err(SurrogateError::Diverged { epoch });
        }
        if loss < best * (1.0 - config.min_improvement) {
            best = loss;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= config.patience.max(1) {
                return Ok(epoch);
            }
        }
    }
    Ok(epochs)
}

/// The `[genotypes, width]` matrix of `encoding`'s features.
fn feature_matrix(
    encoding: Encoding,
    width: usize,
    genotypes: &[&Genotype],
) -> Result<Tensor, SurrogateError> {
    let mut flat = Vec::with_capacity(genotypes.len() * width);
    for g in genotypes {
        flat.extend(encoding.features(g));
    }
    Ok(Tensor::f_from_slice(&flat)?.f_view([genotypes.len() as i64, width as i64])?)
}

/// Train one dense member on every pair: Adam on a pairwise hinge loss
/// within each minibatch (margin 0.1 standard deviations) plus
/// `dense_mse_weight` times the MSE, for `epochs` passes.
fn train_dense_member(
    member: &Member,
    x: &Tensor,
    y: &Tensor,
    log_f: Option<&Tensor>,
    config: &FitConfig,
    epochs: usize,
    rng: &mut space::SpaceRng,
) -> Result<(), SurrogateError> {
    let mut opt = tch::nn::Adam::default()
        .wd(config.weight_decay)
        .build(&member.vs, 1e-3)?;
    opt.set_lr_group(SLOPE_GROUP, SLOPE_LR);
    let n = y.size()[0] as usize;
    let mut order: Vec<i64> = (0..n as i64).collect();
    for epoch in 1..=epochs {
        order.shuffle(rng);
        let mut total = 0.0;
        for chunk in order.chunks(config.batch_size) {
            let index = Tensor::f_from_slice(chunk)?;
            let xb = x.f_index_select(0, &index)?;
            let yb = y.f_index_select(0, &index)?;
            let lb = match log_f {
                Some(l) => Some(l.f_index_select(0, &index)?),
                None => None,
            };
            let p = member.at_fidelity(member.net.forward_dense(&xb)?, lb.as_ref())?;
            let dp = p.f_unsqueeze(1)?.f_sub(&p.f_unsqueeze(0)?)?;
            let sign = yb.f_unsqueeze(1)?.f_sub(&yb.f_unsqueeze(0)?)?.f_sign()?;
            let hinge = dp
                .f_mul(&sign)?
                .f_neg()?
                .f_add_scalar(0.1)?
                .f_relu()?
                .f_mean(tch::Kind::Float)?;
            let mse = p.f_mse_loss(&yb, Reduction::Mean)?;
            let loss = hinge.f_add(&mse.f_mul_scalar(config.dense_mse_weight)?)?;
            opt.zero_grad();
            loss.f_backward()?;
            opt.step();
            total += loss.f_double_value(&[])?;
        }
        if !total.is_finite() {
            return Err(SurrogateError::Diverged { epoch });
        }
    }
    Ok(())
}

//! The two predictor networks as tch parameters and forward passes: the
//! PNAS LSTM (embedding, one LSTM layer, the hidden state after the last
//! real token, a linear head) and one MLP of the ensemble (embedding, the
//! embeddings of a group concatenated, the mean over groups, two hidden
//! layers, a linear head). Both output one logit per genotype; the caller
//! applies the sigmoid.
//!
//! Padding never changes an output: the LSTM is read at each sequence's own
//! last token, and the MLP masks padded groups out of its mean.
//!
//! Every parameter is drawn from a ChaCha generator seeded by the caller,
//! never from libtorch's global generator, so fits are reproducible and
//! concurrent fits in one process cannot disturb each other's draws.
//! Parameter paths (`embedding`, `lstm.w_ih`, `mlp.fc1.weight`, ...) are
//! stable so that a warm start copies weights by name.

use rand::Rng;
use space::SpaceRng;
use tch::nn::{Path, VarStore};
use tch::{Device, Kind, TchError, Tensor};

/// Network sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    /// Token ids, padding included.
    pub vocab: i64,
    /// Tokens per group (MLP).
    pub group: i64,
    /// Embedding width.
    pub embedding: i64,
    /// LSTM hidden size, or the width of each MLP hidden layer.
    pub hidden: i64,
}

/// A padded batch of token sequences.
pub(crate) struct Batch {
    /// `[B, T]` token ids, padded with [`crate::encode::PAD`].
    tokens: Tensor,
    /// `[B]` index of each sequence's last real token.
    last: Tensor,
    /// `[B, G, 1]` 1 for real groups, 0 for padding.
    group_mask: Tensor,
    /// `[B, 1]` real groups per sequence.
    groups: Tensor,
}

impl Batch {
    /// Pad `seqs` (each non-empty, a whole number of `group`-token groups)
    /// to the longest.
    pub fn new(seqs: &[&[i64]], group: usize) -> Result<Self, TchError> {
        let b = seqs.len();
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(group);
        let g = t / group;
        let mut tokens = vec![crate::encode::PAD; b * t];
        let mut mask = vec![0f32; b * g];
        for (i, s) in seqs.iter().enumerate() {
            tokens[i * t..i * t + s.len()].copy_from_slice(s);
            mask[i * g..i * g + s.len() / group].fill(1.0);
        }
        let last: Vec<i64> = seqs.iter().map(|s| s.len() as i64 - 1).collect();
        let groups: Vec<f32> = seqs.iter().map(|s| (s.len() / group) as f32).collect();
        let (bi, ti, gi) = (b as i64, t as i64, g as i64);
        Ok(Self {
            tokens: Tensor::f_from_slice(&tokens)?.f_view([bi, ti])?,
            last: Tensor::f_from_slice(&last)?,
            group_mask: Tensor::f_from_slice(&mask)?.f_view([bi, gi, 1])?,
            groups: Tensor::f_from_slice(&groups)?.f_view([bi, 1])?,
        })
    }

    /// Number of sequences.
    pub fn len(&self) -> i64 {
        self.tokens.size()[0]
    }
}

/// One network's parameters.
pub(crate) enum Net {
    /// The PNAS LSTM.
    Lstm {
        embedding: Tensor,
        /// `[w_ih, w_hh, b_ih, b_hh]`, the layout `Tensor::lstm` takes.
        lstm: [Tensor; 4],
        head: (Tensor, Tensor),
    },
    /// One member of a dense ensemble over feature vectors
    /// ([`crate::features`]): ReLU layers, a linear head, no embedding.
    Dense {
        layers: Vec<(Tensor, Tensor)>,
        head: (Tensor, Tensor),
    },
    /// One member of the MLP ensemble.
    Mlp {
        embedding: Tensor,
        fc1: (Tensor, Tensor),
        fc2: (Tensor, Tensor),
        head: (Tensor, Tensor),
    },
}

/// Uniform draws in `[-bound, bound)` from `rng`, as a tensor of `shape`.
fn uniform(rng: &mut SpaceRng, shape: &[i64], bound: f64) -> Result<Tensor, TchError> {
    let n: i64 = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| (rng.random_range(-bound..bound)) as f32)
        .collect();
    Tensor::f_from_slice(&values)?.f_view(shape)
}

/// A trainable variable under `path`, initialised from `rng` with the
/// PyTorch default for its layer (`bound`).
fn var(
    path: &Path,
    name: &str,
    rng: &mut SpaceRng,
    shape: &[i64],
    bound: f64,
) -> Result<Tensor, TchError> {
    path.f_var_copy(name, &uniform(rng, shape, bound)?)
}

/// A linear layer's (weight, bias), PyTorch's default init.
fn linear(
    path: &Path,
    rng: &mut SpaceRng,
    inputs: i64,
    outputs: i64,
) -> Result<(Tensor, Tensor), TchError> {
    let bound = 1.0 / (inputs as f64).sqrt();
    Ok((
        var(path, "weight", rng, &[outputs, inputs], bound)?,
        var(path, "bias", rng, &[outputs], bound)?,
    ))
}

impl Net {
    /// A fresh LSTM in `vs`, drawn from `rng`; the head's bias starts at
    /// `bias` (the logit of the mean training target).
    pub fn lstm(
        vs: &VarStore,
        dims: Dims,
        rng: &mut SpaceRng,
        bias: f64,
    ) -> Result<Self, TchError> {
        let root = vs.root();
        // Unit variance, as PyTorch's N(0, 1) embedding init.
        let embedding = var(
            &root,
            "embedding",
            rng,
            &[dims.vocab, dims.embedding],
            3f64.sqrt(),
        )?;
        let p = root.sub("lstm");
        let h = dims.hidden;
        let bound = 1.0 / (h as f64).sqrt();
        let lstm = [
            var(&p, "w_ih", rng, &[4 * h, dims.embedding], bound)?,
            var(&p, "w_hh", rng, &[4 * h, h], bound)?,
            var(&p, "b_ih", rng, &[4 * h], bound)?,
            var(&p, "b_hh", rng, &[4 * h], bound)?,
        ];
        let head = linear(&root.sub("head"), rng, h, 1)?;
        set_bias(&head.1, bias)?;
        Ok(Net::Lstm {
            embedding,
            lstm,
            head,
        })
    }

    /// A fresh MLP in `vs`, drawn from `rng`; the head's bias starts at `bias`.
    pub fn mlp(vs: &VarStore, dims: Dims, rng: &mut SpaceRng, bias: f64) -> Result<Self, TchError> {
        let root = vs.root();
        let embedding = var(
            &root,
            "embedding",
            rng,
            &[dims.vocab, dims.embedding],
            3f64.sqrt(),
        )?;
        let p = root.sub("mlp");
        let fc1 = linear(&p.sub("fc1"), rng, dims.group * dims.embedding, dims.hidden)?;
        let fc2 = linear(&p.sub("fc2"), rng, dims.hidden, dims.hidden)?;
        let head = linear(&root.sub("head"), rng, dims.hidden, 1)?;
        set_bias(&head.1, bias)?;
        Ok(Net::Mlp {
            embedding,
            fc1,
            fc2,
            head,
        })
    }

    /// A fresh dense network in `vs` over `inputs` features: `layers`
    /// hidden layers of `hidden` units, drawn from `rng`, its head's bias 0
    /// (the targets are standardized).
    pub fn dense(
        vs: &VarStore,
        inputs: i64,
        hidden: i64,
        layers: usize,
        rng: &mut SpaceRng,
    ) -> Result<Self, TchError> {
        let root = vs.root();
        let p = root.sub("dense");
        let mut width = inputs;
        let mut fcs = Vec::with_capacity(layers);
        for i in 0..layers {
            fcs.push(linear(&p.sub(format!("fc{i}")), rng, width, hidden)?);
            width = hidden;
        }
        let head = linear(&root.sub("head"), rng, width, 1)?;
        set_bias(&head.1, 0.0)?;
        Ok(Net::Dense { layers: fcs, head })
    }

    /// `[B]` outputs of a dense network for `[B, inputs]` features.
    pub fn forward_dense(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let Net::Dense { layers, head } = self else {
            return Err(TchError::Kind("forward_dense on a token network".into()));
        };
        let mut h = x.shallow_clone();
        for (w, b) in layers {
            h = h.f_linear(w, Some(b))?.f_relu()?;
        }
        h.f_linear(&head.0, Some(&head.1))?.f_squeeze_dim(1)
    }

    /// `[B]` logits for `batch`.
    pub fn forward(&self, batch: &Batch, dims: Dims) -> Result<Tensor, TchError> {
        match self {
            Net::Lstm {
                embedding,
                lstm,
                head,
            } => {
                let b = batch.len();
                let x = Tensor::f_embedding(embedding, &batch.tokens, -1, false, false)?;
                let zeros = Tensor::f_zeros([1, b, dims.hidden], (Kind::Float, Device::Cpu))?;
                let (out, _, _) = x.f_lstm(
                    &[&zeros, &zeros],
                    &lstm.each_ref(),
                    true,
                    1,
                    0.0,
                    false,
                    false,
                    true,
                )?;
                let index = batch
                    .last
                    .f_view([b, 1, 1])?
                    .f_expand([b, 1, dims.hidden], false)?;
                let h = out.f_gather(1, &index, false)?.f_squeeze_dim(1)?;
                h.f_linear(&head.0, Some(&head.1))?.f_squeeze_dim(1)
            }
            Net::Mlp {
                embedding,
                fc1,
                fc2,
                head,
            } => {
                let b = batch.len();
                let x = Tensor::f_embedding(embedding, &batch.tokens, -1, false, false)?;
                let grouped = x.f_view([b, -1, dims.group * dims.embedding])?;
                let mean = grouped
                    .f_mul(&batch.group_mask)?
                    .f_sum_dim_intlist(1, false, Kind::Float)?
                    .f_div(&batch.groups)?;
                let h = mean.f_linear(&fc1.0, Some(&fc1.1))?.f_relu()?;
                let h = h.f_linear(&fc2.0, Some(&fc2.1))?.f_relu()?;
                h.f_linear(&head.0, Some(&head.1))?.f_squeeze_dim(1)
            }
            Net::Dense { .. } => Err(TchError::Kind(
                "a dense network reads features, not tokens".into(),
            )),
        }
    }
}

fn set_bias(bias: &Tensor, value: f64) -> Result<(), TchError> {
    let mut b = bias.shallow_clone();
    let _filled = tch::no_grad(|| b.f_fill_(value))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIMS: Dims = Dims {
        vocab: 15,
        group: 4,
        embedding: 8,
        hidden: 6,
    };

    fn logits(net: &Net, seqs: &[&[i64]]) -> Vec<f32> {
        let batch = Batch::new(seqs, 4).unwrap();
        let out = tch::no_grad(|| net.forward(&batch, DIMS)).unwrap();
        Vec::<f32>::try_from(&out).unwrap()
    }

    #[test]
    fn padding_does_not_change_either_network() {
        let short: &[i64] = &[1, 7, 2, 11];
        let long: &[i64] = &[1, 7, 2, 11, 3, 8, 1, 14, 4, 9, 2, 10];
        for lstm in [true, false] {
            let vs = VarStore::new(Device::Cpu);
            let mut rng = space::rng(3);
            let net = if lstm {
                Net::lstm(&vs, DIMS, &mut rng, 0.0).unwrap()
            } else {
                Net::mlp(&vs, DIMS, &mut rng, 0.0).unwrap()
            };
            let alone = logits(&net, &[short]);
            let padded = logits(&net, &[short, long]);
            let long_alone = logits(&net, &[long]);
            assert!(
                (alone[0] - padded[0]).abs() < 1e-5,
                "lstm={lstm}: {alone:?} {padded:?}"
            );
            assert!((long_alone[0] - padded[1]).abs() < 1e-5, "lstm={lstm}");
            assert!(
                (alone[0] - long_alone[0]).abs() > 1e-6,
                "lstm={lstm}: the tail is read"
            );
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_weights() {
        let draw = |seed| {
            let vs = VarStore::new(Device::Cpu);
            let net = Net::lstm(&vs, DIMS, &mut space::rng(seed), 0.5).unwrap();
            logits(&net, &[&[1, 7, 2, 11]])
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}

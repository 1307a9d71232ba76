//! The controller network in libtorch: a stacked LSTM that reads the
//! previous decision's embedding, a softmax classifier per decision kind,
//! and NAS-RL's content-based attention for anchor points,
//! `P(layer j feeds layer i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i))`.
//!
//! A [`Net`] is built from the plain parameters for one sample or one
//! update and dropped after; a [`Walk`] runs the decision steps of a batch
//! of K decision paths in lockstep (K = 1 when sampling), accumulating each
//! path's log-probability and entropy.

use crate::params::{head_names, Params};
use crate::policy::{Decision, HeadKind};
use crate::ControllerConfig;
use tch::{Kind, Tensor};

/// Logits of masked choices: far enough below any real logit that their
/// probability is exactly 0 in `f32`, finite so that `0 * log p` stays 0
/// in the entropy.
const MASKED: f64 = -1.0e9;

/// One LSTM layer's weights.
struct Layer {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
}

/// One decision kind's classifier and token embedding.
struct Head {
    kind: HeadKind,
    weight: Tensor,
    bias: Tensor,
    embed: Tensor,
}

/// The anchor-point attention of the macro space.
struct Attention {
    w_prev: Tensor,
    w_curr: Tensor,
    v: Tensor,
}

/// The network, as tensors.
pub(crate) struct Net {
    hidden: i64,
    temperature: f64,
    go: Tensor,
    layers: Vec<Layer>,
    heads: Vec<Head>,
    attention: Option<Attention>,
    /// Every parameter tensor by name, to read gradients back.
    leaves: Vec<(String, Tensor)>,
}

impl Net {
    /// The network over `params` (checked against the layout when the
    /// controller was built or read back). With `grad`, the tensors are
    /// leaves that collect gradients.
    pub(crate) fn new(params: &Params, config: &ControllerConfig, grad: bool) -> Self {
        let leaves: Vec<(String, Tensor)> = params
            .iter()
            .map(|(name, p)| {
                let shape: Vec<i64> = p.shape.iter().map(|&d| d as i64).collect();
                let t = Tensor::from_slice(&p.values.0)
                    .reshape(&shape)
                    .set_requires_grad(grad);
                (name.clone(), t)
            })
            .collect();
        let get = |name: &str| -> Tensor {
            leaves
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
                .unwrap_or_else(|| panic!("parameter {name} is in the layout"))
        };
        let layers = (0..config.layers)
            .map(|l| Layer {
                w_ih: get(&format!("lstm.{l}.w_ih")),
                w_hh: get(&format!("lstm.{l}.w_hh")),
                b_ih: get(&format!("lstm.{l}.b_ih")),
                b_hh: get(&format!("lstm.{l}.b_hh")),
            })
            .collect();
        let heads = [
            HeadKind::Height,
            HeadKind::Width,
            HeadKind::Filters,
            HeadKind::Input,
            HeadKind::Op,
            HeadKind::Depth,
            HeadKind::Units,
            HeadKind::Activation,
            HeadKind::Norm,
            HeadKind::Dropout,
            HeadKind::Encoding,
        ]
        .into_iter()
        .filter_map(|kind| {
            let (w, b, e) = head_names(kind);
            params.contains_key(&w).then(|| Head {
                kind,
                weight: get(&w),
                bias: get(&b),
                embed: get(&e),
            })
        })
        .collect();
        let attention = params.contains_key("attention.v").then(|| Attention {
            w_prev: get("attention.w_prev"),
            w_curr: get("attention.w_curr"),
            v: get("attention.v"),
        });
        let go = get("embed.go");
        Self {
            hidden: config.hidden as i64,
            temperature: config.temperature,
            go,
            layers,
            heads,
            attention,
            leaves,
        }
    }

    /// Every parameter tensor by name.
    pub(crate) fn leaves(&self) -> &[(String, Tensor)] {
        &self.leaves
    }

    fn head(&self, kind: HeadKind) -> &Head {
        self.heads
            .iter()
            .find(|h| h.kind == kind)
            .unwrap_or_else(|| panic!("the space's program uses only its own heads ({kind:?})"))
    }

    /// Log-probability and entropy of each of `paths` (all of one program,
    /// so they take the same kinds of steps), each `[K]`.
    pub(crate) fn score(&self, paths: &[Vec<Decision>]) -> (Tensor, Tensor) {
        let k = paths.len() as i64;
        let mut walk = Walk::new(self, k);
        let steps = paths.first().map_or(0, Vec::len);
        for t in 0..steps {
            match &paths[0][t] {
                Decision::Choice { head, mask, .. } => {
                    let n = mask.len() as i64;
                    let mut masks = Vec::with_capacity(paths.len() * mask.len());
                    let mut tokens = Vec::with_capacity(paths.len());
                    for p in paths {
                        let Decision::Choice { mask, token, .. } = &p[t] else {
                            panic!("paths of one program agree on their steps");
                        };
                        masks.extend_from_slice(mask);
                        tokens.push(*token as i64);
                    }
                    let allowed = Tensor::from_slice(&masks).reshape([k, n]);
                    let log_probs = walk.choice(*head, &allowed);
                    walk.commit_choice(*head, &log_probs, &Tensor::from_slice(&tokens));
                }
                Decision::Anchors(first) => {
                    let i = first.len() as i64;
                    let mut bits = Vec::with_capacity(paths.len() * first.len());
                    for p in paths {
                        let Decision::Anchors(b) = &p[t] else {
                            panic!("paths of one program agree on their steps");
                        };
                        bits.extend(b.iter().map(|&x| if x { 1.0f32 } else { 0.0 }));
                    }
                    let logits = walk.anchor_logits();
                    walk.commit_anchors(&logits, &Tensor::from_slice(&bits).reshape([k, i]));
                }
            }
        }
        (walk.log_prob, walk.entropy)
    }
}

/// The decision steps of K paths in lockstep.
pub(crate) struct Walk<'a> {
    net: &'a Net,
    batch: i64,
    /// (h, c) per LSTM layer, each `[K, H]`.
    state: Vec<(Tensor, Tensor)>,
    /// The next step's input, `[K, H]`.
    input: Tensor,
    /// Hidden states at the anchor points so far, each `[K, H]`.
    anchors: Vec<Tensor>,
    /// `W_prev h_j` for each of them.
    keys: Vec<Tensor>,
    /// The hidden state of the anchor step under way.
    current: Option<Tensor>,
    /// Sum of the log-probabilities of the decisions taken, `[K]`.
    pub(crate) log_prob: Tensor,
    /// Sum of the entropies of the distributions decided from, `[K]`.
    pub(crate) entropy: Tensor,
}

impl<'a> Walk<'a> {
    /// The start: zero states, the `go` embedding as input.
    pub(crate) fn new(net: &'a Net, batch: i64) -> Self {
        let zeros = || Tensor::zeros([batch, net.hidden], (Kind::Float, tch::Device::Cpu));
        Self {
            net,
            batch,
            state: net.layers.iter().map(|_| (zeros(), zeros())).collect(),
            input: net.go.expand([batch, net.hidden], false),
            anchors: Vec::new(),
            keys: Vec::new(),
            current: None,
            log_prob: Tensor::zeros([batch], (Kind::Float, tch::Device::Cpu)),
            entropy: Tensor::zeros([batch], (Kind::Float, tch::Device::Cpu)),
        }
    }

    /// One LSTM step over the current input; the top layer's output.
    fn advance(&mut self) -> Tensor {
        let mut x = self.input.shallow_clone();
        for (layer, (h, c)) in self.net.layers.iter().zip(self.state.iter_mut()) {
            let gates =
                x.matmul(&layer.w_ih.tr()) + &layer.b_ih + h.matmul(&layer.w_hh.tr()) + &layer.b_hh;
            let g = gates.chunk(4, 1);
            let c2 = g[1].sigmoid() * &*c + g[0].sigmoid() * g[2].tanh();
            let h2 = g[3].sigmoid() * c2.tanh();
            *c = c2;
            *h = h2.shallow_clone();
            x = h2;
        }
        x
    }

    /// Step, and return the log-probabilities of `head`'s choices, `[K, n]`,
    /// with the choices `allowed` (bool `[K, n]`) forbids at probability 0.
    pub(crate) fn choice(&mut self, head: HeadKind, allowed: &Tensor) -> Tensor {
        let h = self.advance();
        let head = self.net.head(head);
        let logits = (h.matmul(&head.weight.tr()) + &head.bias) / self.net.temperature;
        logits
            .masked_fill(&allowed.logical_not(), MASKED)
            .log_softmax(1, Kind::Float)
    }

    /// Take `tokens` (`[K]`, int64) from the distributions `log_probs` of
    /// [`Self::choice`]: count their log-probability and the entropy, and
    /// feed their embeddings to the next step.
    pub(crate) fn commit_choice(&mut self, head: HeadKind, log_probs: &Tensor, tokens: &Tensor) {
        let taken = log_probs
            .gather(1, &tokens.unsqueeze(1), false)
            .squeeze_dim(1);
        let entropy = -(log_probs.exp() * log_probs).sum_dim_intlist(1, false, Kind::Float);
        self.log_prob = &self.log_prob + taken;
        self.entropy = &self.entropy + entropy;
        self.input = self.net.head(head).embed.index_select(0, tokens);
    }

    /// Step at a macro layer's anchor point and return the logits of its
    /// sigmoids, one per earlier layer, `[K, i]` (`[K, 0]` for layer 0).
    pub(crate) fn anchor_logits(&mut self) -> Tensor {
        let h = self.advance();
        let logits = match (&self.net.attention, self.keys.is_empty()) {
            (Some(att), false) => {
                let keys = Tensor::stack(&self.keys, 1);
                let query = h.matmul(&att.w_curr.tr()).unsqueeze(1);
                (keys + query).tanh().matmul(&att.v) / self.net.temperature
            }
            _ => Tensor::zeros([self.batch, 0], (Kind::Float, tch::Device::Cpu)),
        };
        self.current = Some(h);
        logits
    }

    /// Take the anchor `bits` (`[K, i]`, 0.0 or 1.0) for the logits of
    /// [`Self::anchor_logits`]. The next input is the mean of the chosen
    /// layers' anchor states (zero when none is chosen), as in ENAS; after
    /// layer 0, which has no choice, it is the `go` embedding.
    pub(crate) fn commit_anchors(&mut self, logits: &Tensor, bits: &Tensor) {
        let h = self
            .current
            .take()
            .expect("anchor_logits comes before commit_anchors");
        if self.anchors.is_empty() {
            self.input = self.net.go.expand([self.batch, self.net.hidden], false);
        } else {
            let (up, down) = (logits.log_sigmoid(), (-logits).log_sigmoid());
            let taken: Tensor = bits * &up + (bits.ones_like() - bits) * &down;
            let p = logits.sigmoid();
            let spread: Tensor = &p * &up + (p.ones_like() - &p) * &down;
            let taken = taken.sum_dim_intlist(1, false, Kind::Float);
            let entropy = -spread.sum_dim_intlist(1, false, Kind::Float);
            self.log_prob = &self.log_prob + taken;
            self.entropy = &self.entropy + entropy;
            let chosen = (bits.unsqueeze(2) * Tensor::stack(&self.anchors, 1)).sum_dim_intlist(
                1,
                false,
                Kind::Float,
            );
            let count = bits.sum_dim_intlist(1, true, Kind::Float) + 1.0;
            self.input = chosen / count;
        }
        if let Some(att) = &self.net.attention {
            self.keys.push(h.matmul(&att.w_prev.tr()));
        }
        self.anchors.push(h);
    }
}

//! The student networks (METHOD §4): state and task embeddings, the action
//! tokenizer with its codebook (or the CVAE encoder of the ACT baselines),
//! the latent encoder and the attention decoder.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::error::Result;
use crate::mlp::{Activation, Mlp, MlpConfig};
use crate::student::config::StudentConfig;
use crate::student::encoder::ImageEncoder;
use crate::student::nn::{DecoderLayer, Dense, EncoderLayer, stack_tokens};

/// Widths fixed by the data, not by the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dims {
    /// Tasks the student knows.
    pub tasks: usize,
    /// Action width.
    pub action: usize,
    /// Proprioception width of one frame.
    pub proprio: usize,
    /// Image side.
    pub image: usize,
}

/// Context every decoder call needs: `z_state` and `z_task`, each `[B, d]`.
#[derive(Clone, Debug)]
pub struct Context {
    /// Embedded proprioception history.
    pub state: Tensor,
    /// Embedded task index.
    pub task: Tensor,
}

/// Observation tokens of the latent encoder (and of the CVAE decoder).
#[derive(Clone, Debug)]
pub struct Seen {
    /// Current image features, projected: `[B, d]`.
    pub image: Tensor,
    /// Goal image features, projected: `[B, d]`.
    pub goal: Tensor,
}

/// All student networks in one variable map.
pub struct StudentNets {
    /// Configuration they were built from.
    pub cfg: StudentConfig,
    /// Data widths.
    pub dims: Dims,
    /// Image encoder (`enc.*`), frozen after pre-training.
    pub encoder: ImageEncoder,
    state_mlp: Mlp,
    task_emb: Tensor,
    tok_in: Dense,
    tok_pos: Tensor,
    tok_layers: Vec<EncoderLayer>,
    tok_out: Dense,
    codebook: Tensor,
    code_in: Dense,
    mem_pos: Tensor,
    queries: Tensor,
    dec_layers: Vec<DecoderLayer>,
    dec_out: Dense,
    img_in: Dense,
    goal_in: Dense,
    lat_pos: Tensor,
    lat_layers: Vec<EncoderLayer>,
    lat_out: Dense,
    /// The variables.
    pub map: VarMap,
}

impl StudentNets {
    /// Build every network and initialise it from `cfg.seed`.
    pub fn new(cfg: &StudentConfig, dims: Dims) -> Result<Self> {
        cfg.validate()?;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let d = cfg.width;
        let enc = ImageEncoder::new(&cfg.encoder, dims.image, vb.pp("enc"))?;
        let state_mlp = Mlp::new(
            &MlpConfig {
                input: cfg.history * dims.proprio,
                hidden: vec![2 * d],
                output: d,
                activation: Activation::Relu,
            },
            vb.pp("state"),
        )?;
        let layers = |n: usize, name: &str| -> Result<Vec<EncoderLayer>> {
            (0..n)
                .map(|i| EncoderLayer::new(d, cfg.heads, vb.pp(format!("{name}.l{i}"))))
                .collect()
        };
        // The CVAE baselines read mean and log-variance off the tokenizer.
        let tok_width = if cfg.method.quantized() {
            cfg.codes
        } else {
            2 * cfg.code_width
        };
        let nets = Self {
            cfg: cfg.clone(),
            dims,
            encoder: enc,
            state_mlp,
            task_emb: vb.get((dims.tasks.max(1), d), "task.emb")?,
            tok_in: Dense::new(dims.action, d, vb.pp("tok.in"))?,
            tok_pos: vb.get((cfg.chunk + 1, d), "tok.pos")?,
            tok_layers: layers(cfg.layers, "tok")?,
            tok_out: Dense::new(d, tok_width, vb.pp("tok.out"))?,
            codebook: vb.get((cfg.codes, cfg.code_width), "codebook")?,
            code_in: Dense::new(cfg.code_width, d, vb.pp("dec.code"))?,
            mem_pos: vb.get((5, d), "dec.mem_pos")?,
            queries: vb.get((cfg.chunk, d), "dec.queries")?,
            dec_layers: (0..cfg.decoder_layers)
                .map(|i| DecoderLayer::new(d, cfg.heads, vb.pp(format!("dec.l{i}"))))
                .collect::<Result<_>>()?,
            dec_out: Dense::new(d, dims.action, vb.pp("dec.out"))?,
            img_in: Dense::new(cfg.encoder.features, d, vb.pp("lat.img"))?,
            goal_in: Dense::new(cfg.encoder.features, d, vb.pp("lat.goal"))?,
            lat_pos: vb.get((5, d), "lat.pos")?,
            lat_layers: layers(cfg.layers, "lat")?,
            lat_out: Dense::new(d, cfg.codes, vb.pp("lat.out"))?,
            map,
        };
        crate::init::seeded_init(&nets.map, cfg.seed)?;
        Ok(nets)
    }

    /// `z_state` from normalised histories `[B, h·P]`, `z_task` from task
    /// indexes `[B]` (u32).
    pub fn context(&self, history: &Tensor, task: &Tensor) -> Result<Context> {
        Ok(Context {
            state: self.state_mlp.forward(history)?,
            task: self.task_emb.index_select(task, 0)?,
        })
    }

    /// Projected image and goal features (`[B, F]` each).
    pub fn seen(&self, image: &Tensor, goal: &Tensor) -> Result<Seen> {
        Ok(Seen {
            image: self.img_in.forward(image)?,
            goal: self.goal_in.forward(goal)?,
        })
    }

    /// The tokenizer on chunks `[B, k, A]`: code logits `[B, n_c]` (or the
    /// CVAE's `[B, 2·n_q]` mean and log-variance).
    pub fn tokenize(&self, chunk: &Tensor) -> Result<Tensor> {
        let b = chunk.dim(0)?;
        let d = self.cfg.width;
        let cls = Tensor::zeros((b, 1, d), DType::F32, &Device::Cpu)?;
        let x = Tensor::cat(&[cls, self.tok_in.forward(chunk)?], 1)?;
        let mut x = x.broadcast_add(&self.tok_pos)?;
        for l in &self.tok_layers {
            x = l.forward(&x)?;
        }
        self.tok_out.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)
    }

    /// The latent encoder: code logits `[B, n_c]` from what the policy sees.
    pub fn latent(&self, seen: &Seen, ctx: &Context) -> Result<Tensor> {
        let b = ctx.state.dim(0)?;
        let cls = Tensor::zeros((b, self.cfg.width), DType::F32, &Device::Cpu)?;
        let tokens = [
            cls,
            seen.image.clone(),
            seen.goal.clone(),
            ctx.task.clone(),
            ctx.state.clone(),
        ];
        let mut x = stack_tokens(&tokens, &self.lat_pos)?;
        for l in &self.lat_layers {
            x = l.forward(&x)?;
        }
        self.lat_out.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)
    }

    /// The codebook `[n_c, n_q]`.
    pub fn codebook(&self) -> &Tensor {
        &self.codebook
    }

    /// Decode a code vector `z: [B, n_q]` into a chunk `[B, k, A]` in
    /// `[-1, 1]`. The CVAE baselines also attend to what the policy sees.
    pub fn decode(&self, z: &Tensor, ctx: &Context, seen: Option<&Seen>) -> Result<Tensor> {
        let b = z.dim(0)?;
        let mut tokens = vec![
            self.code_in.forward(z)?,
            ctx.state.clone(),
            ctx.task.clone(),
        ];
        if let Some(s) = seen {
            tokens.push(s.image.clone());
            tokens.push(s.goal.clone());
        }
        let mem = stack_tokens(&tokens, &self.mem_pos)?;
        let (k, d) = self.queries.dims2()?;
        let mut x = self
            .queries
            .unsqueeze(0)?
            .broadcast_as((b, k, d))?
            .contiguous()?;
        for l in &self.dec_layers {
            x = l.forward(&x, &mem)?;
        }
        Ok(self.dec_out.forward(&x)?.tanh()?)
    }

    /// Variables by group: `enc`, `tok` (tokenizer + codebook), `policy`
    /// (everything the behaviour-cloning stage trains).
    pub fn vars(&self, group: VarGroup) -> Vec<(String, Var)> {
        let all = crate::student::encoder::named_vars(&self.map, "");
        all.into_iter()
            .filter(|(n, _)| {
                let tok = n.starts_with("tok.") || n == "codebook";
                match group {
                    VarGroup::Encoder => n.starts_with("enc."),
                    VarGroup::Tokenizer => tok || !n.starts_with("enc.") && !n.starts_with("lat."),
                    VarGroup::Policy => !n.starts_with("enc.") && !tok,
                    VarGroup::Cvae => !n.starts_with("enc."),
                }
            })
            .collect()
    }

    /// Argmax of logits, per row.
    pub fn argmax(logits: &Tensor) -> Result<Vec<u32>> {
        Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
    }
}

/// Which variables an optimiser updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarGroup {
    /// The image encoder (pre-training only).
    Encoder,
    /// Stage (a): tokenizer, codebook, decoder and embeddings.
    Tokenizer,
    /// Stage (b): latent encoder, decoder and embeddings; tokenizer frozen.
    Policy,
    /// The CVAE baselines: everything but the image encoder.
    Cvae,
}

//! The multi-task visuomotor student (METHOD §4–§5): a VQ-VAE over action
//! chunks distilled with critic guidance (ACGD), and the baselines that
//! share its networks (BC, vanilla ACT with and without the critic).

pub mod ckpt;
pub mod config;
pub mod corpus;
pub mod dagger;
pub mod encoder;
pub mod eval;
pub mod gap;
pub mod goals;
pub mod loss;
pub mod model;
pub mod nn;
pub mod policy;
pub mod qnorm;
pub mod select;
pub mod train;

pub use ckpt::{Student, StudentMeta};
pub use config::{CriticSpan, EncoderConfig, LrSchedule, Method, QNorm, StudentConfig, TrainGoal};
pub use corpus::Corpus;
pub use policy::StudentRollout;
pub use train::{DistillJob, DistillProgress, Stage, Terms, distill};

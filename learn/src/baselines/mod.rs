//! Baselines of METHOD §6 that do not share the student's networks:
//! recurrent behaviour cloning (BC-RNN, robomimic-style) and PolyTask
//! behaviour distillation (multi-task and lifelong).
//!
//! Both see what the student sees (frozen image features pre-trained on
//! their own training images, the goal, the task, normalised
//! proprioception), save a safetensors file with a JSON file beside it
//! under their own format tag, and act through a per-episode rollout with
//! the shape of [`crate::student::StudentRollout`].

pub mod bc_rnn;
pub mod bc_rnn_train;
pub mod common;
pub mod eval;
pub mod gru;
pub mod polytask;
pub mod polytask_train;
pub mod relabel;

pub use bc_rnn::{ActionLoss, BC_RNN_FORMAT, BcRnn, BcRnnConfig, BcRnnMeta, BcRnnRollout};
pub use bc_rnn_train::train_bc_rnn;
pub use common::{BaselineProgress, Phase};
pub use eval::{EpisodePolicy, effective_tasks, evaluate_bc_rnn, evaluate_polytask};
pub use gru::Gru;
pub use polytask::{
    GoalMode, LifelongMode, POLYTASK_FORMAT, PolyTask, PolyTaskConfig, PolyTaskMeta,
    PolyTaskRollout,
};
pub use polytask_train::{
    LIFELONG_FORMAT, LifelongStage, load_lifelong, train_polytask, train_polytask_lifelong,
};
pub use relabel::{TaskBuffer, regenerate_buffer};

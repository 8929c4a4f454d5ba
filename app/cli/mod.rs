//! Command-line interface: one module per command group.

mod agree;
mod bench;
mod bench_update;
mod data;
mod distill;
mod eval;
mod eval_trace;
mod expert;
mod expert_eval;
mod report;
mod sim;
mod tasks;

use clap::{Parser, Subcommand};

/// dexstudio: dexterous-hand experts, visuomotor students, and a studio to watch them.
#[derive(Parser, Debug)]
#[command(name = "dexstudio", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List and validate task specs.
    #[command(subcommand)]
    Tasks(tasks::TasksCmd),
    /// Run the simulator headless.
    #[command(subcommand)]
    Sim(sim::SimCmd),
    /// Train, evaluate and inspect privileged-state experts.
    #[command(subcommand)]
    Expert(expert::ExpertCmd),
    /// Roll experts with images on and write a demonstration dataset.
    Collect(data::CollectArgs),
    /// Inspect datasets.
    #[command(subcommand)]
    Data(data::DataCmd),
    /// Distill a suite's experts into one visuomotor student (ACGD or a baseline).
    Distill(Box<distill::DistillArgs>),
    /// Evaluate a student: success per task with bootstrap 95% intervals.
    Eval(eval::EvalArgs),
    /// Tables I and II and the figures from a session's evaluated students.
    Report(report::ReportArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Open the studio window (needs a display); `dexstudio` alone does too.
    Studio(crate::studio::StudioArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Tasks(c)) => tasks::run(c),
        Some(Command::Sim(c)) => sim::run(c),
        Some(Command::Bench(c)) => bench::run(c),
        Some(Command::Expert(c)) => expert::run(c),
        Some(Command::Collect(a)) => data::collect_cmd(a),
        Some(Command::Data(c)) => data::run(c),
        Some(Command::Distill(a)) => distill::run(*a),
        Some(Command::Eval(a)) => eval::run(a),
        Some(Command::Report(a)) => report::run(a),
        Some(Command::Studio(a)) => crate::studio::run(a),
        // The studio on the bundled default session (sessions/default).
        None => crate::studio::run(crate::studio::StudioArgs::defaults()?),
    }
}

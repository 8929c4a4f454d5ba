//! dexstudio: train dexterous-hand experts, distill them into visuomotor
//! students, and watch it all live. This binary is the CLI and (later) the
//! studio launcher; the work happens in the `dexsim`, `dexlearn` and
//! `dexstudio-plugins` crates.

mod cli;
mod frames;
mod output;
mod plot;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

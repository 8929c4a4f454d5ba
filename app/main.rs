//! dexstudio: train dexterous-hand experts, distill them into visuomotor
//! students, and watch it all live. This binary is the CLI and the studio
//! launcher (a bare `dexstudio` opens the studio); the work happens in the
//! `dexsim`, `dexlearn` and `dexstudio-plugins` crates.

mod cli;
mod frames;
mod output;
mod plot;
mod studio;

use clap::Parser;

/// candle runs large elementwise ops on a pool of its own whose workers
/// spin after each op; with 2 cores they steal the core the simulator steps
/// on (measured: 20 ms per TD3 update while training, 11 ms alone). One
/// candle thread keeps elementwise work inline; matmuls still use rayon.
/// A value the user exported wins.
///
/// candle also sizes every matmul by reading `RAYON_NUM_THREADS`, and when
/// it is unset parses `/proc/cpuinfo` afresh on each call (15% of a student
/// training step, half of a control step); setting it to rayon's own
/// default, the available parallelism, changes nothing else.
#[allow(unsafe_code)]
fn configure_candle_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        // SAFETY: as above.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}

fn main() -> std::process::ExitCode {
    configure_candle_threads();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

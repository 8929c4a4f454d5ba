//! Background jobs (file dialogs, loads, copies) report through one-shot
//! channels; systems poll them once a frame without blocking.

use crossbeam_channel::{Receiver, TryRecvError};

/// Take the results of the finished `jobs` and forget them (and any whose
/// thread died without answering); the rest stay pending.
pub(crate) fn drain_finished<T>(jobs: &mut Vec<Receiver<T>>) -> Vec<T> {
    let mut done = Vec::new();
    jobs.retain(|rx| match rx.try_recv() {
        Ok(d) => {
            done.push(d);
            false
        }
        Err(TryRecvError::Empty) => true,
        Err(TryRecvError::Disconnected) => false,
    });
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_are_taken_pending_ones_kept_dead_ones_dropped() {
        let (tx_done, rx_done) = crossbeam_channel::unbounded();
        let (_tx_wait, rx_wait) = crossbeam_channel::unbounded::<u8>();
        let (tx_dead, rx_dead) = crossbeam_channel::unbounded::<u8>();
        tx_done.send(7u8).unwrap();
        drop(tx_dead);
        let mut jobs = vec![rx_done, rx_wait, rx_dead];
        assert_eq!(drain_finished(&mut jobs), vec![7]);
        assert_eq!(jobs.len(), 1, "only the pending job stays");
    }
}

//! The current episode as a list of snapshots, one per control step, so a
//! scrubber can go back to any step and play on from there.
//!
//! `dexsim` snapshots restore bit-identically (contacts and warm starts
//! included), so a replayed branch is the run the policy would have had.

use bevy::prelude::*;
use dexsim::Snapshot;

use crate::sim_step::{SimStepSet, Viewport};

/// Phases of the plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum TimelineSet {
    /// Append the state each step produced.
    Record,
}

/// Snapshots of one viewport's episode, indexed by control step.
#[derive(Component, Default)]
pub struct Timeline {
    /// Control step of `snaps[0]`: a timeline added mid-episode starts there.
    start: usize,
    snaps: Vec<Snapshot>,
    /// Step of the state the viewport shows.
    cursor: usize,
    /// Viewport revision last seen, to record each new state once.
    seen: Option<u64>,
}

impl Timeline {
    /// The recorded steps, first and last.
    pub fn range(&self) -> Option<(usize, usize)> {
        (!self.snaps.is_empty()).then(|| (self.start, self.start + self.snaps.len() - 1))
    }

    /// Step of the state the viewport shows.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Put `vp` back at `step` and pause it; the later steps stay recorded
    /// until a step is taken from there. Steps outside the range are
    /// ignored (the slider cannot ask for them).
    pub fn scrub(&mut self, vp: &mut Viewport, step: usize) {
        let Some(snap) = step.checked_sub(self.start).and_then(|i| self.snaps.get(i)) else {
            return;
        };
        vp.restore(snap);
        vp.playing = false;
        self.cursor = step;
        self.seen = Some(vp.revision);
    }

    fn record(&mut self, vp: &Viewport) {
        if self.seen == Some(vp.revision) {
            return;
        }
        self.seen = Some(vp.revision);
        let snap = vp.env.snapshot();
        let step = snap.step();
        match step.checked_sub(self.start) {
            // A step from a recorded state: a new branch from there (a
            // reset lands here with step 0).
            Some(i) if i <= self.snaps.len() => self.snaps.truncate(i),
            _ => {
                self.snaps.clear();
                self.start = step;
            }
        }
        self.snaps.push(snap);
        self.cursor = step;
    }
}

/// Records every viewport that has a [`Timeline`] after each step.
pub struct TimelinePlugin;

impl Plugin for TimelinePlugin {
    fn build(&self, app: &mut App) {
        // Also before the step: a state set outside the fixed loop (a reset
        // from the UI, the first frame) would otherwise be stepped away
        // before it was recorded.
        app.configure_sets(FixedUpdate, TimelineSet::Record.after(SimStepSet::Step))
            .add_systems(
                FixedUpdate,
                (
                    record.before(SimStepSet::Step),
                    record.in_set(TimelineSet::Record),
                ),
            );
    }
}

fn record(mut viewports: Query<(&Viewport, &mut Timeline)>) {
    for (vp, mut tl) in &mut viewports {
        tl.record(vp);
    }
}

#[cfg(test)]
mod tests {
    use super::{Timeline, TimelinePlugin};
    use crate::Viewport;
    use crate::testing::{headless_app, viewport};

    #[test]
    fn scrubbing_back_restores_and_stepping_on_branches() {
        let mut app = headless_app();
        app.add_plugins(TimelinePlugin);
        let mut vp = viewport("reach-easy");
        vp.action.fill(0.5);
        let id = app.world_mut().spawn((vp, Timeline::default())).id();
        for _ in 0..6 {
            app.update();
        }
        let mut e = app.world_mut().entity_mut(id);
        let tl = e.get::<Timeline>().expect("timeline");
        let (first, last) = tl.range().expect("recorded");
        assert_eq!(first, 0);
        assert!(last >= 4, "recorded up to {last}");
        let state_at_2 = {
            let (mut vp, mut tl) = (
                e.take::<Viewport>().expect("vp"),
                e.take::<Timeline>().expect("tl"),
            );
            tl.scrub(&mut vp, 2);
            assert!(!vp.playing, "scrubbing pauses");
            assert_eq!(vp.env.snapshot().step(), 2);
            let s = vp.obs.state.clone();
            e.insert((vp, tl));
            s
        };
        app.update();
        let tl = app.world().get::<Timeline>(id).expect("timeline");
        assert_eq!(
            tl.range(),
            Some((0, last)),
            "the future is kept while paused"
        );
        assert_eq!(tl.cursor(), 2);

        // One step from step 2 replaces the recorded future.
        app.world_mut()
            .get_mut::<Viewport>(id)
            .expect("vp")
            .step_once = true;
        app.update();
        let tl = app.world().get::<Timeline>(id).expect("timeline");
        assert_eq!(tl.range(), Some((0, 3)));
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert_ne!(vp.obs.state, state_at_2);
    }

    #[test]
    fn reset_starts_a_new_timeline() {
        let mut app = headless_app();
        app.add_plugins(TimelinePlugin);
        let id = app
            .world_mut()
            .spawn((viewport("reach-easy"), Timeline::default()))
            .id();
        for _ in 0..4 {
            app.update();
        }
        app.world_mut()
            .get_mut::<Viewport>(id)
            .expect("vp")
            .reset(9);
        let mut vp = app.world_mut().get_mut::<Viewport>(id).expect("vp");
        vp.playing = false;
        app.update();
        let tl = app.world().get::<Timeline>(id).expect("timeline");
        assert_eq!(tl.range(), Some((0, 0)));
    }
}

//! `--timings` (each phase's duration on stderr) and `--profile` (a trace of the phases and
//! actions, written when the build ends).

use std::path::Path;
use std::time::Instant;

/// Phase durations for `--timings`.
pub(crate) struct Phases {
    pub(crate) enabled: bool,
    pub(crate) last: Instant,
    /// `--profile`: the phases and actions as a trace, written when the build ends.
    pub(crate) profile: Option<crate::profile::Profile>,
}

impl Phases {
    /// `--timings` when `enabled`; a trace into `profile`.
    pub(crate) fn new(enabled: bool, profile: Option<&Path>) -> Phases {
        Phases {
            enabled,
            last: Instant::now(),
            profile: profile.map(crate::profile::Profile::new),
        }
    }

    pub(crate) fn mark(&mut self, phase: &str) {
        if let Some(profile) = &self.profile {
            profile.phase(phase, self.last);
        }
        if self.enabled {
            eprintln!(
                "timing: {phase:<10} {:>8.1} ms",
                self.last.elapsed().as_secs_f64() * 1000.0
            );
        }
        self.last = Instant::now();
    }
}

impl Drop for Phases {
    /// The trace is written whether the build succeeded or not.
    fn drop(&mut self) {
        if let Some(profile) = &self.profile
            && let Err(failure) = profile.write()
        {
            eprint!(
                "warning: {}",
                failure.render().trim_start_matches("error: ")
            );
        }
    }
}

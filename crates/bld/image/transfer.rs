//! How `bld pull` and `bld push` show their layers: Docker's line for each layer once it is
//! done (`…: Pull complete`, `…: Pushed`), and on a terminal a bar for each layer in flight.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;

use bld_core::Digest;
use bld_registry::{LayerPushed, Progress, PushProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The layers of one pull or push.
pub(crate) struct Layers {
    quiet: bool,
    /// What a bar says (`Downloading`, `Pushing`).
    verb: &'static str,
    /// The bars, when stdout is a terminal.
    bars: Option<(MultiProgress, Mutex<HashMap<Digest, ProgressBar>>)>,
}

impl Layers {
    /// Nothing shown when `quiet`; bars only on a terminal.
    pub(crate) fn new(quiet: bool, verb: &'static str) -> Layers {
        let bars = (!quiet && std::io::stdout().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            (multi, Mutex::new(HashMap::new()))
        });
        Layers { quiet, verb, bars }
    }

    fn bytes(&self, digest: &Digest, done: u64, total: u64) {
        let Some((multi, bars)) = &self.bars else {
            return;
        };
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(*digest).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(digest.hex()[..12].to_owned());
            bar.set_message(self.verb);
            bar
        });
        bar.set_position(done);
    }

    fn done(&self, digest: &Digest, state: &str) {
        if self.quiet {
            return;
        }
        let line = format!("{}: {state}", &digest.hex()[..12]);
        match &self.bars {
            Some((multi, bars)) => {
                if let Some(bar) = bars
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(digest)
                {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                let _ = multi.println(line);
            }
            None => println!("{line}"),
        }
    }
}

impl Progress for Layers {
    fn layer_done(&self, digest: &Digest, held: bool) {
        self.done(
            digest,
            if held {
                "Already exists"
            } else {
                "Pull complete"
            },
        );
    }

    fn layer_bytes(&self, digest: &Digest, done: u64, total: u64) {
        self.bytes(digest, done, total);
    }
}

impl PushProgress for Layers {
    fn layer_done(&self, digest: &Digest, pushed: &LayerPushed) {
        let state = match pushed {
            LayerPushed::AlreadyExists => "Layer already exists".to_owned(),
            LayerPushed::Pushed => "Pushed".to_owned(),
            LayerPushed::MountedFrom(from) => format!("Mounted from {from}"),
        };
        self.done(digest, &state);
    }

    fn layer_bytes(&self, digest: &Digest, done: u64, total: u64) {
        self.bytes(digest, done, total);
    }
}

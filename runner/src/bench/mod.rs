//! `policy-runner bench`: interleaved `validate` timings and linear memory,
//! in one reused instance per module (the default) or in a new instance per
//! call (`--fresh-instance`, what policy-server pays per request).
//!
//! One step a file: [`measure`] loads the modules, checks their answers and
//! times their calls; [`stats`] turns the samples into one result per
//! module; [`render`] prints the results as a text table or JSON lines.

mod measure;
mod render;
mod stats;

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::BenchArgs;
use crate::context::cluster_state::ClusterState;
use crate::context::read_cluster_state;
use crate::host::HostOptions;
use crate::input::load_settings;
use crate::request::load_request;
use measure::{measure, prepare, Workload};

/// Benches `args.policies` on one request and prints the report. Exits 0:
/// a module that cannot be loaded or answers badly is an error, not a result.
pub fn bench(args: &BenchArgs, verbose: bool) -> Result<u8> {
    let settings = load_settings(&args.settings.source())?;
    let request = load_request(&args.request_path)?;
    let payload = request.validate_payload(&settings)?;
    let work = Workload {
        settings: &settings,
        payload: &payload,
        uid: &request.uid,
        object: request.object.as_ref(),
    };
    // The engine of `run` and `check`, configured as policy-server's (epoch
    // deadlines, copy-on-write memory images), so that calls, instantiation
    // and teardown cost what they cost there; no cache: the report gives
    // each module's compile time.
    let options = HostOptions {
        verbose,
        deadline: args.deadline.deadline(),
        cache: false,
    };
    let mut state = ClusterState::new();
    read_cluster_state(&mut state, &args.cluster.cluster_state, &args.cluster.namespace)?;
    let state = Arc::new(state);
    let mut subjects = args
        .policies
        .iter()
        .map(|path| prepare(path, &work, options.clone(), args.fresh_instance, &state))
        .collect::<Result<Vec<_>>>()?;
    measure(&mut subjects, &payload, args.warmup, args.iterations)?;

    let text = render::report(&stats::results(&subjects), args, &request.uid);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the report to standard output")?;
    Ok(0)
}

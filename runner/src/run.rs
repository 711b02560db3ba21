//! `policy-runner run`: one request, one kwctl-shaped AdmissionResponse line.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::RunArgs;
use crate::host::{HostOptions, Policy};
use crate::input::load_settings;
use crate::request::load_request;
use crate::response::admission_response;

pub fn run(args: &RunArgs, verbose: bool) -> Result<u8> {
    let settings = load_settings(&args.settings.source())?;
    let request = load_request(&args.request_path)?;
    let options = HostOptions {
        verbose,
        track_memory: false,
        deadline: args.deadline.deadline(),
    };
    let (_policy, instance) = Policy::open(&args.policy, options)?;

    instance.require_valid_settings(&settings)?;

    let payload = request.validate_payload(&settings)?;
    let validation = instance.validate(&payload)?;
    let outcome = admission_response(&request.uid, request.object.as_ref(), &validation)?;

    let line = serde_json::to_string(&outcome.response)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .context("cannot write the response to standard output")?;
    Ok(0)
}

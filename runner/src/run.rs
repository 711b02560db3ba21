//! `policy-runner run`: one request, one kwctl-shaped AdmissionResponse line.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::{host_options, RunArgs};
use crate::context::cluster_state::ClusterState;
use crate::context::session::Session;
use crate::context::{declared, read_cluster_state, ContextHost, Source};
use crate::host::{display_name, load, Load};
use crate::input::load_settings;
use crate::metadata::FoundMetadata;
use crate::request::load_request;
use crate::response::admission_response;

/// The context-aware host of `run`, as kwctl sets it up: the metadata's
/// resources with --allow-context-aware, nothing without.
fn context_host(args: &RunArgs, metadata: Option<&FoundMetadata>, verbose: bool) -> Result<ContextHost> {
    let label = display_name(&args.policy);
    if let (true, Some(found)) = (verbose, metadata) {
        eprintln!("policy-runner: metadata of policy {label} from {}", found.origin);
    }
    let declared = declared(metadata.map(|m| &m.metadata));
    let granted = if args.allow_context_aware {
        if metadata.is_none() {
            eprintln!(
                "policy-runner: warning: policy {label} has no metadata (not annotated, no policy-metadata.yml beside it, no --metadata): access to Kubernetes resources is not allowed, as in kwctl"
            );
        }
        declared
    } else {
        if !declared.is_empty() {
            eprintln!(
                "policy-runner: warning: policy {label} requires access to Kubernetes resources at evaluation time; without --allow-context-aware the access is denied, and the policy may not behave properly"
            );
        }
        BTreeSet::new()
    };
    let source = if let Some(path) = &args.replay_host_capabilities_interactions {
        Source::Replay(Session::load(path)?)
    } else if !args.cluster.cluster_state.is_empty() {
        let mut state = ClusterState::new();
        read_cluster_state(&mut state, &args.cluster.cluster_state, &args.cluster.namespace)?;
        Source::ClusterState(Arc::new(state))
    } else {
        Source::None
    };
    let host = ContextHost::new(granted, source);
    Ok(if args.record_host_capabilities_interactions.is_some() {
        host.recording()
    } else {
        host
    })
}

/// Reports how the replay went; true when the session was out of step.
fn report_session(context: &ContextHost, verbose: bool) -> bool {
    let Some(session) = context.session() else {
        return false;
    };
    let path = session.path.display();
    let problems = session.problems();
    if verbose {
        eprintln!(
            "policy-runner: replayed {} of {} recorded host capability exchanges from {path} ({} Kubernetes host calls)",
            session.replayed(),
            session.recorded(),
            context.calls()
        );
    }
    if !problems.is_empty() {
        eprintln!(
            "policy-runner: error: host capabilities session {path} is out of step with the policy's host calls ({} of them had no matching exchange; the policy got errors for them)",
            problems.len()
        );
        return true;
    }
    let leftover = session.leftover();
    if leftover > 0 {
        eprintln!(
            "policy-runner: warning: {leftover} of the {} recorded exchanges of {path} were not replayed (the policy made fewer host calls)",
            session.recorded()
        );
    }
    false
}

pub fn run(args: &RunArgs, verbose: bool) -> Result<u8> {
    let settings = load_settings(&args.settings.source())?;
    let request = load_request(&args.request_path)?;
    let loaded = load(
        Load {
            policy: &args.policy,
            metadata: args.metadata.as_deref(),
            options: host_options(verbose, &args.deadline, &args.cache),
            settings: &settings,
            name_module_when_not_ready: false,
        },
        |metadata| context_host(args, metadata, verbose),
    )?;
    let (context, instance) = (loaded.policy.context(), &loaded.instance);

    let payload = request.validate_payload(&settings)?;
    let validation = instance.validate(&payload)?;
    let outcome = admission_response(&request.uid, request.object.as_ref(), &validation)?;

    let line = serde_json::to_string(&outcome.response)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .context("cannot write the response to standard output")?;
    if let (Some(path), Some(session)) = (&args.record_host_capabilities_interactions, context.recorded_session()) {
        std::fs::write(path, session?)
            .with_context(|| format!("cannot write host capabilities session {}", path.display()))?;
    }
    Ok(if report_session(context, verbose) { 1 } else { 0 })
}

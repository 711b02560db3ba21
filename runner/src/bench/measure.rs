//! Loading each module, checking that it answers, and timing its `validate`
//! calls, interleaved across modules so that a busy machine slows them alike.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::context::cluster_state::ClusterState;
use crate::context::{declared, ContextHost, Source};
use crate::host::{load, HostOptions, Load, Policy, PolicyInstance};
use crate::response::admission_response;

/// The request and settings every module is benched with.
pub struct Workload<'a> {
    pub settings: &'a serde_json::Value,
    pub payload: &'a [u8],
    pub uid: &'a str,
    pub object: Option<&'a serde_json::Value>,
}

/// One module being benched, and what its calls recorded.
pub struct Subject {
    pub instances: Instances,
    /// Making the instance the checks ran in.
    pub instantiate: Duration,
    pub initial_memory: usize,
    pub verdict: &'static str,
    /// Kubernetes host calls the policy made in its checked evaluation.
    pub host_calls: u64,
    /// Time the host spent answering them, per timed call (part of the sample).
    pub host: Vec<Duration>,
    /// Whole timed calls (in fresh mode: instantiate + call + teardown).
    pub samples: Vec<Duration>,
    /// The parts of each fresh-instance call.
    pub parts: Vec<FreshSample>,
}

/// Where a module's timed calls run.
// One per module, never moved in a loop: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Instances {
    /// One instance for every call.
    Reused(Policy, PolicyInstance),
    /// A new instance per call.
    Fresh(Policy),
}

impl Instances {
    pub fn policy(&self) -> &Policy {
        match self {
            Instances::Reused(policy, _) | Instances::Fresh(policy) => policy,
        }
    }
}

/// The timings of one fresh-instance call.
#[derive(Debug, Clone, Copy)]
pub struct FreshSample {
    pub instantiate: Duration,
    pub call: Duration,
    pub teardown: Duration,
    /// From before instantiation to after teardown.
    pub whole: Duration,
}

impl Subject {
    /// One `validate` call: its whole time and, in fresh mode, its parts.
    /// Warm-up calls are these too, their timings dropped.
    fn call(&self, payload: &[u8]) -> Result<(Duration, Option<FreshSample>)> {
        match &self.instances {
            Instances::Reused(_, instance) => {
                let started = Instant::now();
                let answer = instance.validate_raw(payload);
                let elapsed = started.elapsed();
                answer.map(|_| (elapsed, None))
            }
            Instances::Fresh(policy) => fresh_call(policy, payload).map(|sample| (sample.whole, Some(sample))),
        }
    }

    /// One timed call, recorded with the host's part of it.
    fn record(&mut self, payload: &[u8]) -> Result<()> {
        let host_before = self.instances.policy().context().busy();
        let (whole, parts) = self.call(payload)?;
        self.samples.push(whole);
        self.parts.extend(parts);
        if self.host_calls > 0 {
            let host = self.instances.policy().context().busy().saturating_sub(host_before);
            self.host.push(host);
        }
        Ok(())
    }
}

/// What policy-server does per request: a new instance from the linked
/// module, one `validate` call, the instance dropped.
fn fresh_call(policy: &Policy, payload: &[u8]) -> Result<FreshSample> {
    let started = Instant::now();
    let instance = policy.instantiate()?;
    let instantiated = Instant::now();
    let answer = instance.validate_raw(payload);
    let called = Instant::now();
    drop(instance);
    let ended = Instant::now();
    answer?;
    Ok(FreshSample {
        instantiate: instantiated - started,
        call: called - instantiated,
        teardown: ended - called,
        whole: ended - started,
    })
}

/// Loads a module and checks it answers properly. In fresh mode the checked
/// instance is dropped; the timed calls make their own. The module's
/// Kubernetes look-ups are answered from `state`, for the resources its
/// metadata declares.
pub fn prepare(
    path: &Path,
    work: &Workload,
    options: HostOptions,
    fresh: bool,
    state: &Arc<ClusterState>,
) -> Result<Subject> {
    let load_spec = Load {
        policy: path,
        metadata: None,
        options,
        settings: work.settings,
        name_module_when_not_ready: true,
    };
    let loaded = load(load_spec, |metadata| {
        let declared = declared(metadata.map(|m| &m.metadata));
        Ok(ContextHost::new(declared, Source::ClusterState(state.clone())))
    })?;
    let (policy, checked) = (loaded.policy, loaded.instance);
    let calls_before = policy.context().calls();
    let verdict = check_answer(&checked, work)?;
    let host_calls = policy.context().calls() - calls_before;
    let initial_memory = checked.initial_memory();
    let instances = if fresh {
        Instances::Fresh(policy)
    } else {
        Instances::Reused(policy, checked)
    };
    Ok(Subject {
        instances,
        instantiate: loaded.instantiate_time,
        initial_memory,
        verdict,
        host_calls,
        host: Vec::new(),
        samples: Vec::new(),
        parts: Vec::new(),
    })
}

/// One `validate` call in a ready instance: the policy must give a proper
/// answer before timing. Returns the verdict.
fn check_answer(instance: &PolicyInstance, work: &Workload) -> Result<&'static str> {
    let validation = instance.validate(work.payload)?;
    Ok(admission_response(work.uid, work.object, &validation)?
        .verdict()
        .as_str())
}

/// Warm-up, then timed calls, interleaved across modules (A B A B ...).
pub fn measure(subjects: &mut [Subject], payload: &[u8], warmup: u64, iterations: u64) -> Result<()> {
    for _ in 0..warmup {
        for s in subjects.iter() {
            s.call(payload)?;
        }
    }
    // Room for every sample up front, so that no vector grows between calls.
    let iterations = usize::try_from(iterations).unwrap_or(usize::MAX);
    for s in subjects.iter_mut() {
        s.samples.reserve(iterations);
        if matches!(s.instances, Instances::Fresh(_)) {
            s.parts.reserve(iterations);
        }
    }
    for _ in 0..iterations {
        for s in subjects.iter_mut() {
            s.record(payload)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waPC guest whose second `validate` call in one instance traps: it
    /// keeps a count in a global, which only a new instance resets.
    const ONE_CALL_PER_INSTANCE: &str = r#"(module
  (import "wapc" "__guest_response" (func $respond (param i32 i32)))
  (memory (export "memory") 1)
  (global $validations (mut i32) (i32.const 0))
  (data (i32.const 1024) "\"v1\"")
  (data (i32.const 2048) "{\"valid\":true}")
  (data (i32.const 3072) "{\"accepted\":true}")
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $respond (i32.const 1024) (i32.const 4)) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (call $respond (i32.const 2048) (i32.const 14)) (return (i32.const 1))))
    (global.set $validations (i32.add (global.get $validations) (i32.const 1)))
    (if (i32.gt_u (global.get $validations) (i32.const 1)) (then unreachable))
    (call $respond (i32.const 3072) (i32.const 17))
    (i32.const 1)))
"#;

    fn bench_subject(path: &Path, fresh: bool) -> Subject {
        let settings = serde_json::json!({});
        let work = Workload {
            settings: &settings,
            payload: br#"{"request":{},"settings":{}}"#,
            uid: "req-1",
            object: None,
        };
        prepare(
            path,
            &work,
            HostOptions::default(),
            fresh,
            &Arc::new(ClusterState::new()),
        )
        .unwrap()
    }

    #[test]
    fn fresh_instance_mode_makes_a_new_instance_for_every_call() {
        let path = std::env::temp_dir().join(format!("policy-runner-fresh-{}.wat", std::process::id()));
        std::fs::write(&path, ONE_CALL_PER_INSTANCE).unwrap();
        let payload = br#"{"request":{},"settings":{}}"#;

        let mut fresh = [bench_subject(&path, true), bench_subject(&path, true)];
        let measured = measure(&mut fresh, payload, 3, 5);
        // The guest traps on a second call in one instance: reusing the
        // instance (as the default mode does) fails the bench.
        let mut reused = [bench_subject(&path, false)];
        let reused_error = measure(&mut reused, payload, 0, 1).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();

        measured.unwrap();
        assert!(
            reused_error.contains("failed in `validate`: the guest trapped"),
            "{reused_error}"
        );
        let results = crate::bench::stats::results(&fresh);
        for (subject, result) in fresh.iter().zip(&results) {
            let stats = result.fresh.expect("fresh-instance stats");
            // One for the checks, three warm-up calls, five timed calls.
            assert_eq!(stats.instantiations, 9);
            assert_eq!(subject.samples.len(), 5);
            assert_eq!(subject.parts.len(), 5);
            for part in &subject.parts {
                assert!(part.instantiate + part.call + part.teardown <= part.whole);
            }
            assert_eq!(result.verdict, "allowed");
        }
    }
}

//! `policy-runner bench`: interleaved `validate` timings and linear memory,
//! in one reused instance per module (the default) or in a new instance per
//! call (`--fresh-instance`, what policy-server pays per request).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cli::{BenchArgs, OutputFormat};
use crate::context::cluster_state::ClusterState;
use crate::context::{declared, read_cluster_state, ContextHost, Source};
use crate::host::{display_name, HostOptions, Policy, PolicyInstance};
use crate::input::load_settings;
use crate::metadata::find_metadata;
use crate::request::load_request;
use crate::response::admission_response;

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// Mean, percentiles and extremes of `samples`. The percentiles come from an
/// HDR histogram of the nanoseconds with 3 significant digits (within 0.1%
/// of the exact nearest-rank value); the mean, min and max are exact.
pub fn summarize(samples: &[Duration]) -> Stats {
    let nanos: Vec<u64> = samples
        .iter()
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .collect();
    let us = |ns: u64| ns as f64 / 1e3;
    let (Some(&min), Some(&max)) = (nanos.iter().min(), nanos.iter().max()) else {
        return Stats {
            mean: 0.0,
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            min: 0.0,
            max: 0.0,
        };
    };
    // Fails only for a precision outside 0..=5 or a maximum below 2.
    #[allow(clippy::expect_used)]
    let mut histogram = Histogram::<u64>::new_with_max(max.max(2), 3).expect("3 significant digits are valid");
    for &ns in &nanos {
        histogram.saturating_record(ns);
    }
    // The histogram answers with the highest value its bucket holds; never
    // report more than was measured.
    let at = |q: f64| us(histogram.value_at_quantile(q).min(max));
    Stats {
        mean: nanos.iter().map(|&ns| ns as f64).sum::<f64>() / nanos.len() as f64 / 1e3,
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        min: us(min),
        max: us(max),
    }
}

struct Subject {
    instances: Instances,
    instantiate: Duration,
    initial_memory: usize,
    verdict: &'static str,
    /// Kubernetes host calls the policy made in its checked evaluation.
    host_calls: u64,
    /// Time the host spent answering them, per timed call (part of the sample).
    host: Vec<Duration>,
    /// Whole timed calls (in fresh mode: instantiate + call + teardown).
    samples: Vec<Duration>,
    /// The parts of each fresh-instance call.
    parts: Vec<FreshSample>,
}

/// Where a module's timed calls run.
// One per module, never moved in a loop: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Instances {
    /// One instance for every call.
    Reused(Policy, PolicyInstance),
    /// A new instance per call.
    Fresh(Policy),
}

impl Instances {
    fn policy(&self) -> &Policy {
        match self {
            Instances::Reused(policy, _) => policy,
            Instances::Fresh(policy) => policy,
        }
    }
}

impl Subject {
    /// One untimed call (a warm-up).
    fn call(&self, payload: &[u8]) -> Result<()> {
        match &self.instances {
            Instances::Reused(_, instance) => instance.validate_raw(payload).map(drop),
            Instances::Fresh(pre) => fresh_call(pre, payload).map(drop),
        }
    }

    /// One timed call, recorded.
    fn timed_call(&mut self, payload: &[u8]) -> Result<()> {
        let host_before = self.instances.policy().context().busy();
        match &self.instances {
            Instances::Reused(_, instance) => {
                let started = Instant::now();
                let answer = instance.validate_raw(payload);
                let elapsed = started.elapsed();
                answer?;
                self.samples.push(elapsed);
            }
            Instances::Fresh(pre) => {
                let (sample, _answer) = fresh_call(pre, payload)?;
                self.samples.push(sample.whole);
                self.parts.push(sample);
            }
        }
        if self.host_calls > 0 {
            let host = self.instances.policy().context().busy().saturating_sub(host_before);
            self.host.push(host);
        }
        Ok(())
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

/// What policy-server does per request: a new instance from the linked
/// module, one `validate` call, the instance dropped. Returns the timings
/// and the guest's answer.
fn fresh_call(pre: &Policy, payload: &[u8]) -> Result<(FreshSample, Vec<u8>)> {
    let started = Instant::now();
    let instance = pre.instantiate()?;
    let instantiated = Instant::now();
    let answer = instance.validate_raw(payload);
    let called = Instant::now();
    drop(instance);
    let ended = Instant::now();
    let sample = FreshSample {
        instantiate: instantiated - started,
        call: called - instantiated,
        teardown: ended - called,
        whole: ended - started,
    };
    Ok((sample, answer?))
}

/// Latency summaries of the parts of fresh-instance calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreshStats {
    pub instantiate: Stats,
    pub call: Stats,
    pub teardown: Stats,
    /// Instances made for this module (checks, warm-up and timed calls).
    pub instantiations: u64,
}

/// What one module's bench produced.
#[derive(Debug, Clone)]
pub struct ModuleResult {
    pub path: String,
    pub name: String,
    pub size_bytes: usize,
    pub compile_ms: f64,
    pub instantiate_ms: f64,
    pub verdict: &'static str,
    pub stats: Stats,
    pub p50_ratio: f64,
    pub memory_initial_bytes: usize,
    pub memory_peak_bytes: usize,
    pub memories: usize,
    /// Kubernetes host calls per evaluation.
    pub host_calls: u64,
    /// The host's time answering them, per timed call; `None` without calls.
    pub host: Option<Stats>,
    /// Present in fresh-instance mode.
    pub fresh: Option<FreshStats>,
}

const KB: f64 = 1024.0;
const MB: f64 = 1024.0 * 1024.0;

/// The request and settings every module is benched with.
struct Workload<'a> {
    settings: &'a serde_json::Value,
    payload: &'a [u8],
    uid: &'a str,
    object: Option<&'a serde_json::Value>,
}

/// Loads and instantiates a module and checks it answers properly. In fresh
/// mode the checked instance is dropped; the timed calls make their own.
/// The module's Kubernetes look-ups are answered from `state`, for the
/// resources its metadata declares.
fn prepare(
    path: &std::path::Path,
    work: &Workload,
    options: HostOptions,
    fresh: bool,
    state: &Arc<ClusterState>,
) -> Result<Subject> {
    let metadata = find_metadata(None, path)?;
    let context = ContextHost::new(
        declared(metadata.as_ref().map(|m| &m.metadata)),
        Source::ClusterState(state.clone()),
    );
    let policy = Policy::open(path, options, Arc::new(context))?;
    let started = Instant::now();
    let instances = if fresh {
        Instances::Fresh(policy)
    } else {
        let instance = policy.instantiate()?;
        Instances::Reused(policy, instance)
    };
    let mut instantiate = started.elapsed();
    let initial_memory = instances.policy().memory_stats().map_or(0, |m| m.current());
    let calls_before = instances.policy().context().calls();
    let verdict = match &instances {
        Instances::Reused(_, instance) => check_answers(path, instance, work)?,
        Instances::Fresh(pre) => {
            // Linking and one instantiation: what the reused mode reports.
            let started = Instant::now();
            let probe = pre.instantiate()?;
            instantiate += started.elapsed();
            check_answers(path, &probe, work)?
        }
    };
    let host_calls = instances.policy().context().calls() - calls_before;
    Ok(Subject {
        instances,
        instantiate,
        initial_memory,
        verdict,
        host_calls,
        host: Vec::new(),
        samples: Vec::new(),
        parts: Vec::new(),
    })
}

/// Protocol version, settings and one `validate` call: the policy must give
/// a proper answer before timing. Returns the verdict.
fn check_answers(path: &std::path::Path, instance: &PolicyInstance, work: &Workload) -> Result<&'static str> {
    instance
        .ready(work.settings)
        .with_context(|| format!("module {}", display_name(path)))?;
    let validation = instance.validate(work.payload)?;
    let outcome = admission_response(work.uid, work.object, &validation)?;
    Ok(match (outcome.response.allowed, outcome.patch.is_some()) {
        (false, _) => "rejected",
        (true, true) => "mutated",
        (true, false) => "allowed",
    })
}

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
    let options = host_options(args, verbose);
    let mut state = ClusterState::new();
    read_cluster_state(&mut state, &args.cluster.cluster_state, &args.cluster.namespace)?;
    let state = Arc::new(state);
    let mut subjects = Vec::with_capacity(args.policies.len());
    for path in &args.policies {
        subjects.push(prepare(path, &work, options, args.fresh_instance, &state)?);
    }
    measure(&mut subjects, &payload, args.warmup, args.iterations)?;

    let results = results(&subjects);
    let mut stdout = std::io::stdout().lock();
    let text = match args.output {
        OutputFormat::Text if args.fresh_instance => render_fresh_text(&results, args, &request.uid),
        OutputFormat::Text => render_text(&results, args, &request.uid),
        OutputFormat::Json => results.iter().map(|r| render_json(r, args) + "\n").collect(),
    };
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the report to standard output")?;
    Ok(0)
}

/// Reused instances get a memory-tracking engine. Fresh instances get an
/// engine configured as policy-server's, with copy-on-write memory images
/// (which a tracking engine must do without), so that instantiation and
/// teardown cost what they cost there.
fn host_options(args: &BenchArgs, verbose: bool) -> HostOptions {
    HostOptions {
        verbose,
        track_memory: !args.fresh_instance,
        deadline: args.deadline.deadline(),
    }
}

/// Warm-up, then timed calls, interleaved across modules (A B A B ...).
fn measure(subjects: &mut [Subject], payload: &[u8], warmup: u64, iterations: u64) -> Result<()> {
    for _ in 0..warmup {
        for s in subjects.iter() {
            s.call(payload)?;
        }
    }
    let iterations = usize::try_from(iterations).unwrap_or(usize::MAX);
    for s in subjects.iter_mut() {
        s.samples.reserve(iterations);
        if matches!(s.instances, Instances::Fresh(_)) {
            s.parts.reserve(iterations);
        }
    }
    for _ in 0..iterations {
        for s in subjects.iter_mut() {
            s.timed_call(payload)?;
        }
    }
    Ok(())
}

fn fresh_stats(s: &Subject) -> Option<FreshStats> {
    let Instances::Fresh(pre) = &s.instances else {
        return None;
    };
    let part = |pick: fn(&FreshSample) -> Duration| summarize(&s.parts.iter().map(pick).collect::<Vec<_>>());
    Some(FreshStats {
        instantiate: part(|p| p.instantiate),
        call: part(|p| p.call),
        teardown: part(|p| p.teardown),
        instantiations: pre.instantiations(),
    })
}

fn results(subjects: &[Subject]) -> Vec<ModuleResult> {
    let mut out: Vec<ModuleResult> = subjects
        .iter()
        .map(|s| {
            let policy = s.instances.policy();
            let memory = policy.memory_stats();
            ModuleResult {
                path: policy.path.display().to_string(),
                name: display_name(&policy.path),
                size_bytes: policy.size,
                compile_ms: policy.compile_time.as_secs_f64() * 1e3,
                instantiate_ms: s.instantiate.as_secs_f64() * 1e3,
                verdict: s.verdict,
                stats: summarize(&s.samples),
                p50_ratio: 1.0,
                memory_initial_bytes: s.initial_memory,
                memory_peak_bytes: memory.map_or(0, |m| m.peak()),
                memories: memory.map_or(0, |m| m.created()),
                host_calls: s.host_calls,
                host: (!s.host.is_empty()).then(|| summarize(&s.host)),
                fresh: fresh_stats(s),
            }
        })
        .collect();
    let base = out.first().map(|r| r.stats.p50).unwrap_or(0.0);
    for r in &mut out {
        r.p50_ratio = if base > 0.0 { r.stats.p50 / base } else { 0.0 };
    }
    out
}

#[derive(Serialize)]
struct JsonResult<'a> {
    module: &'a str,
    size_bytes: usize,
    size_kb: f64,
    compile_ms: f64,
    instantiate_ms: f64,
    iterations: u64,
    warmup: u64,
    verdict: &'a str,
    mean_us: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    min_us: f64,
    max_us: f64,
    p50_ratio: f64,
    /// The memory fields are null when memory is not tracked (fresh-instance mode).
    memory_initial_bytes: Option<usize>,
    memory_peak_bytes: Option<usize>,
    memory_peak_mb: Option<f64>,
    linear_memories: Option<usize>,
    /// Kubernetes host calls (kubewarden/kubernetes/*) per evaluation,
    /// answered inside the timed calls.
    host_calls: u64,
    /// The host's part of each timed call (answering those calls, the list
    /// serialised as policy-server does); null when there are none.
    host_p50_us: Option<f64>,
    host_p99_us: Option<f64>,
    /// `reused-instance` or `fresh-instance`; in fresh-instance mode the
    /// fields above time the whole (instantiate + call + teardown).
    mode: &'a str,
    #[serde(flatten)]
    fresh: Option<JsonFresh>,
}

/// The parts of fresh-instance calls.
#[derive(Serialize)]
struct JsonFresh {
    instantiate_p50_us: f64,
    instantiate_p99_us: f64,
    call_p50_us: f64,
    call_p99_us: f64,
    teardown_p50_us: f64,
    teardown_p99_us: f64,
    instantiations: u64,
}

fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}

fn render_json(r: &ModuleResult, args: &BenchArgs) -> String {
    // Fresh-instance engines do not track memory.
    let tracked = r.fresh.is_none();
    let result = JsonResult {
        module: &r.path,
        size_bytes: r.size_bytes,
        size_kb: round(r.size_bytes as f64 / KB, 1),
        compile_ms: round(r.compile_ms, 3),
        instantiate_ms: round(r.instantiate_ms, 3),
        iterations: args.iterations,
        warmup: args.warmup,
        verdict: r.verdict,
        mean_us: round(r.stats.mean, 2),
        p50_us: round(r.stats.p50, 2),
        p90_us: round(r.stats.p90, 2),
        p99_us: round(r.stats.p99, 2),
        min_us: round(r.stats.min, 2),
        max_us: round(r.stats.max, 2),
        p50_ratio: round(r.p50_ratio, 3),
        memory_initial_bytes: tracked.then_some(r.memory_initial_bytes),
        memory_peak_bytes: tracked.then_some(r.memory_peak_bytes),
        memory_peak_mb: tracked.then(|| round(r.memory_peak_bytes as f64 / MB, 3)),
        linear_memories: tracked.then_some(r.memories),
        host_calls: r.host_calls,
        host_p50_us: r.host.map(|h| round(h.p50, 2)),
        host_p99_us: r.host.map(|h| round(h.p99, 2)),
        mode: if r.fresh.is_some() {
            "fresh-instance"
        } else {
            "reused-instance"
        },
        fresh: r.fresh.map(|f| JsonFresh {
            instantiate_p50_us: round(f.instantiate.p50, 2),
            instantiate_p99_us: round(f.instantiate.p99, 2),
            call_p50_us: round(f.call.p50, 2),
            call_p99_us: round(f.call.p99, 2),
            teardown_p50_us: round(f.teardown.p50, 2),
            teardown_p99_us: round(f.teardown.p99, 2),
            instantiations: f.instantiations,
        }),
    };
    serde_json::to_string(&result).unwrap_or_default()
}

fn render_text(results: &[ModuleResult], args: &BenchArgs, uid: &str) -> String {
    let header = [
        "module",
        "size",
        "compile",
        "instantiate",
        "verdict",
        "mean",
        "p50",
        "p90",
        "p99",
        "p50 ratio",
        "peak memory",
    ];
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                format!("{} B ({:.1} KB)", r.size_bytes, r.size_bytes as f64 / KB),
                format!("{:.1} ms", r.compile_ms),
                format!("{:.2} ms", r.instantiate_ms),
                r.verdict.to_string(),
                format!("{:.1} µs", r.stats.mean),
                format!("{:.1} µs", r.stats.p50),
                format!("{:.1} µs", r.stats.p90),
                format!("{:.1} µs", r.stats.p99),
                format!("{:.2}x", r.p50_ratio),
                format!("{} B ({:.2} MB)", r.memory_peak_bytes, r.memory_peak_bytes as f64 / MB),
            ]
        })
        .collect();
    let mut out = format!(
        "bench: request {uid}, {} timed validate calls per module after {} warm-up calls{}\n\n",
        args.iterations,
        args.warmup,
        if results.len() > 1 {
            ", interleaved across modules"
        } else {
            ""
        }
    );
    out.push_str(&table(&header, &rows));
    out.push_str(
        "\np50 ratio is relative to the first module; peak memory is the largest linear memory size of the instance during the run.\n",
    );
    out.push_str(&host_note(results));
    out
}

/// What the host's Kubernetes answers cost, when a module made such calls.
fn host_note(results: &[ModuleResult]) -> String {
    if results.iter().all(|r| r.host_calls == 0) {
        return String::new();
    }
    let mut out = String::from("Kubernetes host calls per evaluation, answered inside the timed calls:\n");
    for r in results {
        out.push_str(&format!("  {}: {}", r.name, r.host_calls));
        if let Some(h) = r.host {
            out.push_str(&format!(", the host's part p50 {:.1} µs, p99 {:.1} µs", h.p50, h.p99));
        }
        out.push('\n');
    }
    out
}

fn render_fresh_text(results: &[ModuleResult], args: &BenchArgs, uid: &str) -> String {
    let header = [
        "module",
        "verdict",
        "whole p50",
        "whole p99",
        "instantiate p50",
        "instantiate p99",
        "call p50",
        "call p99",
        "teardown p50",
        "teardown p99",
        "p50 ratio",
        "instances",
    ];
    let us = |v: f64| format!("{v:.1} µs");
    let rows: Vec<Vec<String>> = results
        .iter()
        .filter_map(|r| r.fresh.map(|f| (r, f)))
        .map(|(r, f)| {
            vec![
                r.name.clone(),
                r.verdict.to_string(),
                us(r.stats.p50),
                us(r.stats.p99),
                us(f.instantiate.p50),
                us(f.instantiate.p99),
                us(f.call.p50),
                us(f.call.p99),
                us(f.teardown.p50),
                us(f.teardown.p99),
                format!("{:.2}x", r.p50_ratio),
                f.instantiations.to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "bench: request {uid}, {} timed fresh-instance evaluations (instantiate, validate, drop) per module after {} warm-up evaluations{}\n\n",
        args.iterations,
        args.warmup,
        if results.len() > 1 {
            ", interleaved across modules"
        } else {
            ""
        }
    );
    out.push_str(&table(&header, &rows));
    out.push_str(
        "\nwhole = instantiate + call + teardown, timed together; p50 ratio (of the whole) is relative to the first module; instances counts every instance made (checks, warm-up, timed).\n",
    );
    out.push_str(&host_note(results));
    out
}

/// Left-aligned text table; numeric-looking cells are right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<String>| -> String {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            let numeric = i > 0 && cell.starts_with(|c: char| c.is_ascii_digit());
            if i > 0 {
                line.push_str("  ");
            }
            if numeric {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_string() + "\n"
    };
    let mut out = render(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&render(row.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_within_the_histogram_precision() {
        let close = |got: f64, want: f64| (got - want).abs() <= want * 1e-3;
        let us = |v: u64| Duration::from_micros(v);
        let s = summarize(&(1..=100).map(us).collect::<Vec<_>>());
        assert!(close(s.p50, 50.0) && close(s.p90, 90.0) && close(s.p99, 99.0), "{s:?}");
        assert_eq!((s.min, s.max), (1.0, 100.0));
        let small = summarize(&[us(10), us(20), us(30)]);
        assert!(close(small.p50, 20.0) && close(small.p90, 30.0), "{small:?}");
        assert_eq!(summarize(&[us(7)]).p99, 7.0);
        assert_eq!(summarize(&[]).p50, 0.0);
    }

    #[test]
    fn summary_sorts_samples_and_averages() {
        let samples: Vec<Duration> = [30u64, 10, 20, 40]
            .iter()
            .map(|us| Duration::from_micros(*us))
            .collect();
        let s = summarize(&samples);
        assert!((s.mean - 25.0).abs() < 1e-6);
        // percentiles within the histogram's precision (0.1%)
        assert!((s.p50 - 20.0).abs() < 20.0 * 1e-3, "{s:?}");
        assert!((s.p99 - 40.0).abs() < 40.0 * 1e-3, "{s:?}");
        assert!((s.min - 10.0).abs() < 1e-6);
        assert!((s.max - 40.0).abs() < 1e-6);
    }

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

    fn bench_subject(path: &std::path::Path, fresh: bool) -> Subject {
        let settings = serde_json::json!({});
        let work = Workload {
            settings: &settings,
            payload: br#"{"request":{},"settings":{}}"#,
            uid: "req-1",
            object: None,
        };
        let options = HostOptions {
            track_memory: !fresh,
            ..HostOptions::default()
        };
        prepare(path, &work, options, fresh, &Arc::new(ClusterState::new())).unwrap()
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
        let results = results(&fresh);
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

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["module", "p50"],
            &[
                vec!["a.wasm".into(), "5.0 µs".into()],
                vec!["longer.wasm".into(), "15.0 µs".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "module       p50");
        assert_eq!(lines[1], "a.wasm        5.0 µs");
        assert_eq!(lines[2], "longer.wasm  15.0 µs");
    }
}

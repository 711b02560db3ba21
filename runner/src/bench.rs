//! `policy-runner bench`: interleaved `validate` timings and linear memory.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{BenchArgs, OutputFormat};
use crate::host::{display_name, HostOptions, Policy, PolicyInstance};
use crate::input::load_settings;
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

/// Nearest-rank percentile of ascending `sorted` values (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(samples: &[Duration]) -> Stats {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let mean = if us.is_empty() {
        0.0
    } else {
        us.iter().sum::<f64>() / us.len() as f64
    };
    Stats {
        mean,
        p50: percentile(&us, 50.0),
        p90: percentile(&us, 90.0),
        p99: percentile(&us, 99.0),
        min: us.first().copied().unwrap_or(0.0),
        max: us.last().copied().unwrap_or(0.0),
    }
}

struct Subject {
    policy: Policy,
    instance: PolicyInstance,
    instantiate: Duration,
    initial_memory: usize,
    verdict: &'static str,
    samples: Vec<Duration>,
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
}

const KB: f64 = 1024.0;
const MB: f64 = 1024.0 * 1024.0;

fn prepare(
    path: &std::path::Path,
    settings: &serde_json::Value,
    payload: &[u8],
    uid: &str,
    object: Option<&serde_json::Value>,
    options: HostOptions,
) -> Result<Subject> {
    let policy = Policy::load(path, options)?;
    let started = Instant::now();
    let instance = policy.instantiate()?;
    let instantiate = started.elapsed();
    let initial_memory = policy.memory_stats().map_or(0, |m| m.current());
    instance.check_protocol_version()?;
    instance
        .require_valid_settings(settings)
        .with_context(|| format!("module {}", display_name(path)))?;
    // One checked call: the policy must give a proper answer before timing.
    let validation = instance.validate(payload)?;
    let outcome = admission_response(uid, object, &validation)?;
    let verdict = match (outcome.response.allowed, outcome.patch.is_some()) {
        (false, _) => "rejected",
        (true, true) => "mutated",
        (true, false) => "allowed",
    };
    Ok(Subject {
        policy,
        instance,
        instantiate,
        initial_memory,
        verdict,
        samples: Vec::new(),
    })
}

pub fn bench(args: &BenchArgs, verbose: bool) -> Result<u8> {
    let settings = load_settings(&args.settings.source())?;
    let request = load_request(&args.request_path)?;
    let payload = request.validate_payload(&settings)?;

    let options = HostOptions {
        verbose,
        track_memory: true,
        deadline: args.deadline.deadline(),
    };
    let mut subjects = Vec::with_capacity(args.policies.len());
    for path in &args.policies {
        subjects.push(prepare(
            path,
            &settings,
            &payload,
            &request.uid,
            request.object.as_ref(),
            options,
        )?);
    }

    let iterations = usize::try_from(args.iterations).unwrap_or(usize::MAX);
    for _ in 0..args.warmup {
        for s in &subjects {
            s.instance.validate_raw(&payload)?;
        }
    }
    for s in &mut subjects {
        s.samples.reserve(iterations);
    }
    for _ in 0..iterations {
        for s in &mut subjects {
            let started = Instant::now();
            let answer = s.instance.validate_raw(&payload);
            let elapsed = started.elapsed();
            answer?;
            s.samples.push(elapsed);
        }
    }

    let results = results(&subjects);
    let mut stdout = std::io::stdout().lock();
    let text = match args.output {
        OutputFormat::Text => render_text(&results, args, &request.uid),
        OutputFormat::Json => results.iter().map(|r| render_json(r, args) + "\n").collect(),
    };
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the report to standard output")?;
    Ok(0)
}

fn results(subjects: &[Subject]) -> Vec<ModuleResult> {
    let mut out: Vec<ModuleResult> = subjects
        .iter()
        .map(|s| {
            let memory = s.policy.memory_stats();
            ModuleResult {
                path: s.policy.path.display().to_string(),
                name: display_name(&s.policy.path),
                size_bytes: s.policy.size,
                compile_ms: s.policy.compile_time.as_secs_f64() * 1e3,
                instantiate_ms: s.instantiate.as_secs_f64() * 1e3,
                verdict: s.verdict,
                stats: summarize(&s.samples),
                p50_ratio: 1.0,
                memory_initial_bytes: s.initial_memory,
                memory_peak_bytes: memory.map_or(0, |m| m.peak()),
                memories: memory.map_or(0, |m| m.created()),
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
    memory_initial_bytes: usize,
    memory_peak_bytes: usize,
    memory_peak_mb: f64,
    linear_memories: usize,
}

fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}

fn render_json(r: &ModuleResult, args: &BenchArgs) -> String {
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
        memory_initial_bytes: r.memory_initial_bytes,
        memory_peak_bytes: r.memory_peak_bytes,
        memory_peak_mb: round(r.memory_peak_bytes as f64 / MB, 3),
        linear_memories: r.memories,
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
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 90.0), 90.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        let small = [10.0, 20.0, 30.0];
        assert_eq!(percentile(&small, 50.0), 20.0);
        assert_eq!(percentile(&small, 90.0), 30.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summary_sorts_samples_and_averages() {
        let samples: Vec<Duration> = [30u64, 10, 20, 40]
            .iter()
            .map(|us| Duration::from_micros(*us))
            .collect();
        let s = summarize(&samples);
        assert!((s.mean - 25.0).abs() < 1e-6);
        assert!((s.p50 - 20.0).abs() < 1e-6);
        assert!((s.p99 - 40.0).abs() < 1e-6);
        assert!((s.min - 10.0).abs() < 1e-6);
        assert!((s.max - 40.0).abs() < 1e-6);
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

//! The bench's reports: a text table for people (one layout per mode) or one
//! JSON line per module for scripts (`scripts/bench.sh` reads those).

use comfy_table::{presets, CellAlignment, Table};
use serde::Serialize;

use super::stats::{FreshStats, ModuleResult};
use crate::cli::{BenchArgs, OutputFormat};

const KB: f64 = 1024.0;
const MB: f64 = 1024.0 * 1024.0;

/// The whole report, as `args` asks for it.
pub fn report(results: &[ModuleResult], args: &BenchArgs, uid: &str) -> String {
    match args.output {
        OutputFormat::Json => results.iter().map(|r| json_line(r, args) + "\n").collect(),
        OutputFormat::Text if args.fresh_instance => text(&FRESH, results, args, uid),
        OutputFormat::Text => text(&REUSED, results, args, uid),
    }
}

/// What the text report of one mode says.
struct Layout {
    /// What one timed call is, and one warm-up call, in the opening line.
    timed: &'static str,
    warmup: &'static str,
    columns: &'static [Column],
    /// What the columns mean, under the table.
    legend: &'static str,
}

/// A column of the text table: its heading, and its cell in a module's row.
type Column = (&'static str, fn(&ModuleResult) -> String);

const REUSED: Layout = Layout {
    timed: "validate calls",
    warmup: "calls",
    columns: &[
        ("module", |r| r.name.clone()),
        ("size", |r| format!("{} B ({:.1} KB)", r.size_bytes, kilobytes(r.size_bytes))),
        ("compile", |r| format!("{:.1} ms", r.compile_ms)),
        ("instantiate", |r| format!("{:.2} ms", r.instantiate_ms)),
        ("verdict", |r| r.verdict.to_string()),
        ("mean", |r| us(r.stats.mean)),
        ("p50", |r| us(r.stats.p50)),
        ("p90", |r| us(r.stats.p90)),
        ("p99", |r| us(r.stats.p99)),
        ("p50 ratio", |r| ratio(r.p50_ratio)),
        ("peak memory", |r| format!("{} B ({:.2} MB)", r.memory_peak_bytes, megabytes(r.memory_peak_bytes))),
    ],
    legend: "p50 ratio is relative to the first module; peak memory is the largest linear memory size of the instance during the run.",
};

const FRESH: Layout = Layout {
    timed: "fresh-instance evaluations (instantiate, validate, drop)",
    warmup: "evaluations",
    columns: &[
        ("module", |r| r.name.clone()),
        ("verdict", |r| r.verdict.to_string()),
        ("whole p50", |r| us(r.stats.p50)),
        ("whole p99", |r| us(r.stats.p99)),
        ("instantiate p50", |r| us(parts(r).instantiate.p50)),
        ("instantiate p99", |r| us(parts(r).instantiate.p99)),
        ("call p50", |r| us(parts(r).call.p50)),
        ("call p99", |r| us(parts(r).call.p99)),
        ("teardown p50", |r| us(parts(r).teardown.p50)),
        ("teardown p99", |r| us(parts(r).teardown.p99)),
        ("p50 ratio", |r| ratio(r.p50_ratio)),
        ("instances", |r| parts(r).instantiations.to_string()),
    ],
    legend: "whole = instantiate + call + teardown, timed together; p50 ratio (of the whole) is relative to the first module; instances counts every instance made (checks, warm-up, timed).",
};

fn us(value: f64) -> String {
    format!("{value:.1} µs")
}

fn kilobytes(bytes: usize) -> f64 {
    bytes as f64 / KB
}

fn megabytes(bytes: usize) -> f64 {
    bytes as f64 / MB
}

fn ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// The parts of a fresh-instance call, which every result of such a run has.
fn parts(r: &ModuleResult) -> FreshStats {
    r.fresh.unwrap_or_default()
}

/// Opening line, table, legend, and the host calls when there were any.
fn text(layout: &Layout, results: &[ModuleResult], args: &BenchArgs, uid: &str) -> String {
    let interleaved = if results.len() > 1 {
        ", interleaved across modules"
    } else {
        ""
    };
    let header: Vec<&str> = layout.columns.iter().map(|(heading, _)| *heading).collect();
    let rows = results
        .iter()
        .map(|r| layout.columns.iter().map(|(_, cell)| cell(r)).collect())
        .collect();
    format!(
        "bench: request {uid}, {} timed {} per module after {} warm-up {}{interleaved}\n\n{}\n{}\n{}",
        args.iterations,
        layout.timed,
        args.warmup,
        layout.warmup,
        table(&header, rows),
        layout.legend,
        host_note(results),
    )
}

/// Columns two spaces apart, no borders: names and verdicts left-aligned,
/// numbers right-aligned under their headings.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec())
        .add_rows(rows);
    for (column, heading) in table.column_iter_mut().zip(header) {
        column.set_padding((0, 2));
        if !matches!(*heading, "module" | "verdict") {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.trim_fmt() + "\n"
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

/// One module's JSON line; `scripts/bench.sh` reads its fields by name.
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

fn json_line(r: &ModuleResult, args: &BenchArgs) -> String {
    // Fresh-instance engines do not track memory.
    let tracked = r.fresh.is_none();
    let result = JsonResult {
        module: &r.path,
        size_bytes: r.size_bytes,
        size_kb: round(kilobytes(r.size_bytes), 1),
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
        memory_peak_mb: tracked.then(|| round(megabytes(r.memory_peak_bytes), 3)),
        linear_memories: tracked.then_some(r.memories),
        host_calls: r.host_calls,
        host_p50_us: r.host.map(|h| round(h.p50, 2)),
        host_p99_us: r.host.map(|h| round(h.p99, 2)),
        mode: if tracked { "reused-instance" } else { "fresh-instance" },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Stats;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> BenchArgs {
        let line = ["policy-runner", "bench", "-r", "r.json", "-n", "3", "--warmup", "1"];
        let Command::Bench(args) = Cli::parse_from(line.iter().chain(extra).chain(&["a.wasm"])).command else {
            panic!("not bench")
        };
        args
    }

    fn result(name: &str, p50: f64, fresh: Option<FreshStats>) -> ModuleResult {
        let stats = Stats {
            mean: p50 + 1.0,
            p50,
            p90: p50 * 2.0,
            p99: p50 * 3.0,
            min: 1.0,
            max: p50 * 4.0,
        };
        ModuleResult {
            path: format!("dir/{name}"),
            name: name.to_string(),
            size_bytes: 2048,
            compile_ms: 12.34,
            instantiate_ms: 0.5,
            verdict: "allowed",
            stats,
            p50_ratio: p50 / 100.0,
            memory_initial_bytes: 65536,
            memory_peak_bytes: 3 * 65536,
            memories: 1,
            host_calls: 0,
            host: None,
            fresh,
        }
    }

    #[test]
    fn the_reused_instance_report_is_a_table_between_what_was_timed_and_what_it_means() {
        let mut policy = result("policy.wasm", 1234.5, None);
        policy.host_calls = 3;
        policy.host = Some(Stats {
            p50: 50.0,
            p99: 90.0,
            ..Stats::default()
        });
        let text = report(&[result("floor.wasm", 100.0, None), policy], &args(&[]), "uid-1");
        let expected = "\
bench: request uid-1, 3 timed validate calls per module after 1 warm-up calls, interleaved across modules

module                  size  compile  instantiate  verdict       mean        p50        p90        p99  p50 ratio         peak memory
floor.wasm   2048 B (2.0 KB)  12.3 ms      0.50 ms  allowed   101.0 µs   100.0 µs   200.0 µs   300.0 µs      1.00x  196608 B (0.19 MB)
policy.wasm  2048 B (2.0 KB)  12.3 ms      0.50 ms  allowed  1235.5 µs  1234.5 µs  2469.0 µs  3703.5 µs     12.35x  196608 B (0.19 MB)

p50 ratio is relative to the first module; peak memory is the largest linear memory size of the instance during the run.
Kubernetes host calls per evaluation, answered inside the timed calls:
  floor.wasm: 0
  policy.wasm: 3, the host's part p50 50.0 µs, p99 90.0 µs
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_fresh_instance_report_shows_the_parts_of_each_evaluation() {
        let parts = FreshStats {
            instantiate: Stats {
                p50: 30.0,
                p99: 60.0,
                ..Stats::default()
            },
            call: Stats {
                p50: 60.0,
                p99: 90.0,
                ..Stats::default()
            },
            teardown: Stats {
                p50: 10.0,
                p99: 20.0,
                ..Stats::default()
            },
            instantiations: 5,
        };
        let text = report(
            &[result("floor.wasm", 100.0, Some(parts))],
            &args(&["--fresh-instance"]),
            "uid-1",
        );
        let expected = "\
bench: request uid-1, 3 timed fresh-instance evaluations (instantiate, validate, drop) per module after 1 warm-up evaluations

module      verdict  whole p50  whole p99  instantiate p50  instantiate p99  call p50  call p99  teardown p50  teardown p99  p50 ratio  instances
floor.wasm  allowed   100.0 µs   300.0 µs          30.0 µs          60.0 µs   60.0 µs   90.0 µs       10.0 µs       20.0 µs      1.00x          5

whole = instantiate + call + teardown, timed together; p50 ratio (of the whole) is relative to the first module; instances counts every instance made (checks, warm-up, timed).
";
        assert_eq!(text, expected);
        let json = report(
            &[result("floor.wasm", 100.0, Some(parts))],
            &args(&["-o", "json", "--fresh-instance"]),
            "uid-1",
        );
        let line: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(line["mode"], "fresh-instance");
        assert_eq!(
            (line["p50_us"].as_f64(), line["call_p50_us"].as_f64()),
            (Some(100.0), Some(60.0))
        );
        assert_eq!(line["instantiations"], 5);
        assert!(line["memory_peak_bytes"].is_null(), "{line}");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["module", "p50"],
            vec![
                vec!["a.wasm".into(), "5.0 µs".into()],
                vec!["longer.wasm".into(), "15.0 µs".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "module           p50");
        assert_eq!(lines[1], "a.wasm        5.0 µs");
        assert_eq!(lines[2], "longer.wasm  15.0 µs");
    }
}

//! Growth-ratio check of the native policy core: does the cost grow linearly?
//!
//!     cargo bench --bench scaling            (scripts/bench.sh runs it; `make bench`)
//!     cargo bench --bench scaling -- items   (only the dimensions whose name contains "items")
//!
//! For each dimension a pod spec grows in (containers, env vars, volumes, volume
//! mounts, projected items, ...), it builds the same Deployment CREATE at size N and
//! 10×N, times `judge::judge` (the walk over the parsed view: locate, rules, plan,
//! apply, validate; the parse is linear serde_json work measured by `core`) and
//! `evaluate::validate` (payload bytes in, response out), and compares the medians.
//! Linear code gives a ratio near 10; quadratic code near 100. The check fails
//! (exit status 1) when a ratio reaches LIMIT, so an algorithmic regression
//! breaks `make bench`.
//!
//! Timing: each sample runs the evaluation `reps` times (reps chosen so the N-sized
//! sample lasts at least MIN_SAMPLE), building the inputs before the clock starts;
//! samples of N and 10×N alternate, and the median of SAMPLES samples is used.
//!
//! A `parse` row per dimension (serde_json parsing the same payload into a Value,
//! not checked) shows how the machine itself scales on that input: caches and the
//! allocator alone make linear work cost more than 10× at 10×N. N is chosen so that
//! stays well below LIMIT (for containers, 1,000 → 10,000 made even the plain parse
//! cost 16-17× on a 2-core EPYC VM; 300 → 3,000 keeps it near 13-14×), while
//! quadratic code still shows: the items and entries dimensions measured 40-77× on
//! the policy of commit 4eb7610, whose planner compared every declared item with
//! every projected one.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use secret_mounts_policy::settings::Settings;
use secret_mounts_policy::{evaluate, judge, locate, pruned, request};
use serde_json::{json, Value};

/// The ratio 10× the input may cost at most (linear ≈ 10, quadratic ≈ 100).
const LIMIT: f64 = 20.0;
const SAMPLES: usize = 7;
const MIN_SAMPLE: Duration = Duration::from_millis(20);
const MOUNT_PATH: &str = "/etc/secrets";

/// A pod spec of size `n` along one dimension, with the settings it is judged with.
struct Case {
    settings: Value,
    spec: Value,
}

struct Dimension {
    name: &'static str,
    /// What grows, for the report.
    what: &'static str,
    n: usize,
    build: fn(usize) -> Case,
}

const DIMENSIONS: &[Dimension] = &[
    Dimension {
        name: "containers",
        what: "containers, each mounting the secrets volume",
        n: 300,
        build: containers,
    },
    Dimension {
        name: "containers-mutated",
        what: "containers, each getting the mount added",
        n: 300,
        build: containers_mutated,
    },
    Dimension {
        name: "env",
        what: "env vars of one container (values, fieldRef, configMapKeyRef)",
        n: 1000,
        build: env,
    },
    Dimension {
        name: "env-violations",
        what: "env vars of one container, each a secretKeyRef (rejected: N findings)",
        n: 500,
        build: env_violations,
    },
    Dimension {
        name: "volumes",
        what: "volumes (emptyDir, configMap, projected) of one container, all mounted",
        n: 500,
        build: volumes,
    },
    Dimension {
        name: "mounts",
        what: "volume mounts of one container (one emptyDir, many paths)",
        n: 1000,
        build: mounts,
    },
    Dimension {
        name: "items",
        what: "items of the secret source, all declared in secretMounts",
        n: 100,
        build: items,
    },
    Dimension {
        name: "items-mutated",
        what: "declared items the secret source lacks (added by the mutation)",
        n: 100,
        build: items_mutated,
    },
    Dimension {
        name: "entries",
        what: "secretMounts entries (one Secret each) in one projected volume",
        n: 20,
        build: entries,
    },
];

fn secret_items(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"key": format!("KEY_{i}"), "path": format!("keys/key-{i}")}))
        .collect()
}

fn one_entry_settings(items: usize) -> Value {
    json!({"secretMounts": [{"name": "app", "secretName": "app-secrets", "items": secret_items(items)}]})
}

fn secrets_volume(items: usize) -> Value {
    json!({"name": "app-secrets", "projected": {"sources": [{"secret": {"name": "app-secrets", "items": secret_items(items)}}]}})
}

fn secrets_mount() -> Value {
    json!({"name": "app-secrets", "mountPath": MOUNT_PATH, "readOnly": true})
}

fn container(name: &str, env: Vec<Value>, mounts: Vec<Value>) -> Value {
    json!({
        "name": name,
        "image": format!("registry.example.com/{name}:1.0"),
        "env": env,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        "volumeMounts": mounts,
    })
}

fn plain_env(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| match i % 3 {
            0 => json!({"name": format!("VAR_{i}"), "value": format!("value-{i}")}),
            1 => json!({"name": format!("VAR_{i}"), "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
            _ => json!({"name": format!("VAR_{i}"), "valueFrom": {"configMapKeyRef": {"name": "config", "key": format!("k{i}")}}}),
        })
        .collect()
}

fn containers(n: usize) -> Case {
    let containers: Vec<Value> = (0..n)
        .map(|i| container(&format!("c-{i}"), plain_env(2), vec![secrets_mount()]))
        .collect();
    Case {
        settings: one_entry_settings(2),
        spec: json!({"containers": containers, "volumes": [secrets_volume(2)]}),
    }
}

fn containers_mutated(n: usize) -> Case {
    let containers: Vec<Value> = (0..n)
        .map(|i| container(&format!("c-{i}"), plain_env(2), vec![]))
        .collect();
    Case {
        settings: one_entry_settings(2),
        spec: json!({"containers": containers, "volumes": []}),
    }
}

fn env(n: usize) -> Case {
    Case {
        settings: one_entry_settings(2),
        spec: json!({"containers": [container("app", plain_env(n), vec![secrets_mount()])], "volumes": [secrets_volume(2)]}),
    }
}

fn env_violations(n: usize) -> Case {
    let env: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("VAR_{i}"), "valueFrom": {"secretKeyRef": {"name": "app-secrets", "key": format!("KEY_{i}")}}}))
        .collect();
    Case {
        settings: one_entry_settings(2),
        spec: json!({"containers": [container("app", env, vec![secrets_mount()])], "volumes": [secrets_volume(2)]}),
    }
}

fn volumes(n: usize) -> Case {
    let mut volumes = vec![secrets_volume(2)];
    let mut mounts = vec![secrets_mount()];
    for i in 0..n {
        let name = format!("v-{i}");
        volumes.push(match i % 3 {
            0 => json!({"name": name, "emptyDir": {}}),
            1 => json!({"name": name, "configMap": {"name": format!("cm-{i}")}}),
            _ => json!({"name": name, "projected": {"sources": [
                {"configMap": {"name": format!("cm-{i}"), "items": [{"key": "k", "path": "k"}]}},
                {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}
            ]}}),
        });
        mounts.push(json!({"name": name, "mountPath": format!("/data/{i}")}));
    }
    Case {
        settings: one_entry_settings(2),
        spec: json!({"containers": [container("app", plain_env(2), mounts)], "volumes": volumes}),
    }
}

fn mounts(n: usize) -> Case {
    let mut mounts = vec![secrets_mount()];
    mounts.extend(
        (0..n).map(|i| json!({"name": "scratch", "mountPath": format!("/scratch/{i}"), "subPath": format!("{i}")})),
    );
    Case {
        settings: one_entry_settings(2),
        spec: json!({"containers": [container("app", plain_env(2), mounts)],
                     "volumes": [secrets_volume(2), {"name": "scratch", "emptyDir": {}}]}),
    }
}

fn items(n: usize) -> Case {
    Case {
        settings: one_entry_settings(n),
        spec: json!({"containers": [container("app", plain_env(2), vec![secrets_mount()])], "volumes": [secrets_volume(n)]}),
    }
}

fn items_mutated(n: usize) -> Case {
    Case {
        settings: one_entry_settings(n),
        spec: json!({"containers": [container("app", plain_env(2), vec![secrets_mount()])], "volumes": [secrets_volume(0)]}),
    }
}

fn entries(n: usize) -> Case {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": format!("e-{i}"), "secretName": format!("secret-{i}"),
                        "items": [{"key": "KEY", "path": format!("e-{i}/KEY")}]})
        })
        .collect();
    let sources: Vec<Value> = (0..n)
        .map(|i| json!({"secret": {"name": format!("secret-{i}"), "items": [{"key": "KEY", "path": format!("e-{i}/KEY")}]}}))
        .collect();
    Case {
        settings: json!({"secretMounts": entries}),
        spec: json!({"containers": [container("app", plain_env(2), vec![secrets_mount()])],
                     "volumes": [{"name": "app-secrets", "projected": {"sources": sources}}]}),
    }
}

/// A Deployment CREATE carrying `spec`, as the API server sends it.
fn request(spec: Value) -> Value {
    json!({
        "uid": "00000000-0000-0000-0000-000000000000",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "operation": "CREATE",
        "namespace": "bench",
        "userInfo": {"username": "bench"},
        "object": {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "scaling", "namespace": "bench"},
            "spec": {"template": {"metadata": {"labels": {"app": "scaling"}}, "spec": spec}},
        },
    })
}

/// One input size, ready to evaluate.
struct Prepared {
    settings: Settings,
    payload: Vec<u8>,
}

fn prepare(case: Case) -> Prepared {
    let settings = Settings::from_json(case.settings.to_string().as_bytes()).expect("scaling settings are valid");
    let request = request(case.spec);
    let payload = serde_json::to_vec(&json!({"request": request, "settings": case.settings})).expect("serialises");
    Prepared { settings, payload }
}

#[derive(Clone, Copy)]
enum Measure {
    /// `judge::judge` on the parsed view of the object.
    Evaluate,
    /// `evaluate::validate` on the payload bytes.
    Validate,
    /// Reference, not checked: `serde_json::from_slice::<Value>` of the same payload
    /// (and its drop), i.e. how the machine itself scales on this input: caches and
    /// the allocator make even linear code cost a little more than 10× at 10×N.
    Parse,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::Evaluate => "evaluate",
            Measure::Validate => "validate",
            Measure::Parse => "parse",
        }
    }
}

/// The time of `reps` runs, inputs built before the clock starts.
fn sample(p: &Prepared, measure: Measure, reps: usize) -> Duration {
    match measure {
        Measure::Evaluate => {
            let parsed = request::parse(&p.payload).expect("the payload parses");
            let request = parsed.request;
            let object = request.object.expect("an object");
            let shape = locate::view_shape(&p.settings, &request.kind);
            let views: Vec<_> = (0..reps)
                .map(|_| pruned::parse(object.get(), shape, false).expect("the object parses"))
                .collect();
            let started = Instant::now();
            for view in views {
                black_box(judge::judge(
                    &p.settings,
                    &request,
                    view,
                    None,
                    judge::Mounts::AsSettings,
                ));
            }
            started.elapsed()
        }
        Measure::Validate => {
            let started = Instant::now();
            for _ in 0..reps {
                black_box(evaluate::validate(black_box(&p.payload), &evaluate::NoCluster));
            }
            started.elapsed()
        }
        Measure::Parse => {
            let started = Instant::now();
            for _ in 0..reps {
                black_box(serde_json::from_slice::<Value>(black_box(&p.payload)).expect("parses"));
            }
            started.elapsed()
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    dimension: &'static str,
    measure: Measure,
    n: usize,
    small: f64,
    big: f64,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.big / self.small
    }
}

/// Medians (µs per run) of N and 10×N, samples interleaved.
fn compare(dim: &Dimension, measure: Measure, small: &Prepared, big: &Prepared) -> Row {
    // Calibrate on N: enough repetitions for MIN_SAMPLE, then as many for 10×N
    // divided by ten (at least one), so both samples last about as long.
    let once = sample(small, measure, 1).max(Duration::from_nanos(100));
    let reps_small = (MIN_SAMPLE.as_nanos() / once.as_nanos()).clamp(1, 100_000) as usize;
    let reps_big = (reps_small / 10).max(1);
    sample(big, measure, reps_big); // warm up the allocator at the larger size
    let (mut s, mut b) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        s.push(sample(small, measure, reps_small).as_secs_f64() * 1e6 / reps_small as f64);
        b.push(sample(big, measure, reps_big).as_secs_f64() * 1e6 / reps_big as f64);
    }
    Row {
        dimension: dim.name,
        measure,
        n: dim.n,
        small: median(s),
        big: median(b),
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; any other argument filters dimensions by name.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let selected: Vec<&Dimension> = DIMENSIONS
        .iter()
        .filter(|d| filters.is_empty() || filters.iter().any(|f| d.name.contains(f.as_str())))
        .collect();
    println!("scaling: native policy core, median of {SAMPLES} samples; fails when cost(10×N) / cost(N) >= {LIMIT}");
    for dim in &selected {
        println!("  {:<20} N = {:>5}: {}", dim.name, dim.n, dim.what);
    }
    println!();
    println!(
        "{:<20} {:<9} {:>6} {:>12} {:>7} {:>12} {:>7}  verdict",
        "dimension", "measure", "N", "time(N)", "10×N", "time(10×N)", "ratio"
    );
    let mut failed = Vec::new();
    for dim in selected {
        let small = prepare((dim.build)(dim.n));
        let big = prepare((dim.build)(dim.n * 10));
        for measure in [Measure::Evaluate, Measure::Validate, Measure::Parse] {
            let row = compare(dim, measure, &small, &big);
            let checked = !matches!(measure, Measure::Parse);
            let ok = !checked || row.ratio() < LIMIT;
            println!(
                "{:<20} {:<9} {:>6} {:>9.1} µs {:>7} {:>9.1} µs {:>6.1}×  {}",
                row.dimension,
                row.measure.name(),
                row.n,
                row.small,
                row.n * 10,
                row.big,
                row.ratio(),
                match (checked, ok) {
                    (false, _) => "(reference)",
                    (true, true) => "ok",
                    (true, false) => "SUPERLINEAR",
                }
            );
            if !ok {
                failed.push(format!("{}/{}", row.dimension, row.measure.name()));
            }
        }
    }
    println!();
    if failed.is_empty() {
        println!("scaling: every ratio is below {LIMIT}×");
        ExitCode::SUCCESS
    } else {
        println!(
            "scaling: FAILED: cost grows faster than linear in {} (10× the input costs >= {LIMIT}× the time)",
            failed.join(", ")
        );
        ExitCode::FAILURE
    }
}

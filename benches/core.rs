//! Native Criterion benchmarks of the policy core, without the wasm layer.
//!
//!     cargo bench --bench core               (scripts/bench.sh runs it; `make bench`)
//!     cargo bench --bench core -- validate/  (one group)
//!
//! For every fixture of benches/fixtures/ (written by benches/gen_fixtures.py,
//! run here when one is missing) with the bench settings (benches/settings.json):
//!
//!   validate/FIXTURE   `evaluate::validate` on the raw waPC payload bytes:
//!                      what the wasm `validate` export does.
//!   judge/FIXTURE      `judge::judge` on the object's parsed view: the walk
//!                      (locate, rules, plan), nothing else.
//!   parts/FIXTURE/...  where the time of `validate` goes: the parse alone (as the
//!                      SDK's generic `ValidationRequest` does it, and as the
//!                      policy's `request::parse` does it with the object kept as
//!                      text), a lexical skim of the payload (the least any parse
//!                      costs), and the full and pruned parses of the object alone.
//!   parts/settings     `Settings::from_json` of the bench settings (every request
//!                      carries the settings, so every `validate` pays it).
//!
//! Before measuring, every fixture's verdict is checked (typical-compliant,
//! large and huge are accepted unchanged, typical-mutate is accepted mutated), so a
//! benchmark never silently measures the wrong path.
// Tests and benchmarks may unwrap, panic and index: a failure is meant to stop them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use kubewarden_policy_sdk::request::ValidationRequest;
use secret_mounts_policy::settings::Settings;
use secret_mounts_policy::{evaluate, judge, locate, pruned, request};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

/// (fixture, expected verdict) — mutated or not; all are accepted.
const FIXTURES: &[(&str, bool)] = &[
    ("typical-compliant", false),
    ("typical-mutate", true),
    ("large", false),
    ("huge", false),
];

struct Fixture {
    name: &'static str,
    /// The `validate` payload, `{"request": ..., "settings": ...}`, compact, as the runner sends it.
    payload: Vec<u8>,
    /// The request alone.
    request: Value,
}

fn benches_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches")
}

/// The large fixtures are not committed: generate what is missing.
fn ensure_fixtures() {
    let dir = benches_dir().join("fixtures");
    if FIXTURES
        .iter()
        .all(|(name, _)| dir.join(format!("{name}.json")).is_file())
    {
        return;
    }
    let status = Command::new("python3")
        .arg(benches_dir().join("gen_fixtures.py"))
        .arg(&dir)
        .status()
        .expect("cannot run python3 benches/gen_fixtures.py");
    assert!(status.success(), "benches/gen_fixtures.py failed: {status}");
}

fn bench_settings() -> Value {
    let path = benches_dir().join("settings.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(settings: &Value) -> Vec<Fixture> {
    ensure_fixtures();
    FIXTURES
        .iter()
        .map(|&(name, mutated)| {
            let path = benches_dir().join("fixtures").join(format!("{name}.json"));
            let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let request: Value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let payload = serde_json::to_vec(&serde_json::json!({"request": request, "settings": settings}))
                .expect("a Value serialises");
            let response = evaluate::validate_typed(&payload, &evaluate::NoCluster)
                .expect("the response reads back as the host reads it");
            assert!(
                response.accepted,
                "{name}: the policy rejects the fixture: {:?}",
                response.message
            );
            assert_eq!(
                response.mutated_object.is_some(),
                mutated,
                "{name}: expected mutated={mutated}"
            );
            Fixture { name, payload, request }
        })
        .collect()
}

/// Larger inputs get fewer samples, so a full run stays within a few minutes on 2 cores.
fn tune(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, fixture: &Fixture) {
    if fixture.payload.len() > 1 << 20 {
        group.sample_size(10).measurement_time(Duration::from_secs(12));
    } else if fixture.payload.len() > 64 << 10 {
        group.sample_size(20).measurement_time(Duration::from_secs(4));
    } else {
        group.sample_size(50).measurement_time(Duration::from_secs(3));
    }
    group.throughput(Throughput::Bytes(fixture.payload.len() as u64));
}

fn validate(c: &mut Criterion) {
    let settings = bench_settings();
    let mut group = c.benchmark_group("validate");
    for fixture in load(&settings) {
        tune(&mut group, &fixture);
        group.bench_with_input(
            BenchmarkId::from_parameter(fixture.name),
            &fixture.payload,
            |b, payload| b.iter(|| evaluate::validate(black_box(payload), &evaluate::NoCluster)),
        );
    }
    group.finish();
}

fn judge(c: &mut Criterion) {
    let raw = bench_settings();
    let settings = Settings::from_json(raw.to_string().as_bytes()).expect("the bench settings are valid");
    let mut group = c.benchmark_group("judge");
    for fixture in load(&raw) {
        tune(&mut group, &fixture);
        let payload = request::parse(&fixture.payload).expect("the fixture parses");
        let request = payload.request;
        let object = request.object.expect("the fixture has an object");
        let shape = locate::view_shape(&settings, &request.kind);
        group.bench_function(BenchmarkId::from_parameter(fixture.name), |b| {
            b.iter_batched(
                || pruned::parse(object.get(), shape, false).expect("the object parses"),
                |view| judge::judge(&settings, &request, view, None, judge::Mounts::AsSettings),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// The SDK floor's settings: nothing, unknown fields ignored.
#[derive(Deserialize, Default)]
struct NoSettings {}

fn parts(c: &mut Criterion) {
    let raw = bench_settings();
    let mut group = c.benchmark_group("parts");
    let settings_json = raw.to_string();
    group.bench_function("settings", |b| {
        b.iter(|| Settings::from_json(black_box(settings_json.as_bytes())).expect("valid"))
    });
    let deployment = &pruned::WORKLOAD;
    for fixture in load(&raw) {
        tune(&mut group, &fixture);
        let name = fixture.name;
        let payload = fixture.payload.as_slice();
        let object = fixture.request["object"].to_string();
        group.bench_function(format!("{name}/parse-sdk-floor"), |b| {
            b.iter(|| ValidationRequest::<NoSettings>::new(black_box(payload)).expect("parses"))
        });
        group.bench_function(format!("{name}/parse-request"), |b| {
            b.iter(|| request::parse(black_box(payload)).expect("parses"))
        });
        group.bench_function(format!("{name}/skim-ignored-any"), |b| {
            b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(payload)).expect("parses"))
        });
        group.bench_function(format!("{name}/object-full"), |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(&object)).expect("parses"))
        });
        group.bench_function(format!("{name}/object-pruned"), |b| {
            b.iter(|| pruned::parse(black_box(&object), deployment, false).expect("parses"))
        });
    }
    group.finish();
}

criterion_group!(benches, validate, judge, parts);
criterion_main!(benches);

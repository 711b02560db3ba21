//! Native Criterion benchmarks of the policy core, without the wasm layer.
//!
//!     cargo bench --bench core               (scripts/bench.sh runs it; `make bench`)
//!     cargo bench --bench core -- validate/  (one group)
//!
//! For every fixture of benches/fixtures/ (written by benches/gen_fixtures.py,
//! run here when one is missing) with the bench settings (benches/settings.json):
//!
//!   validate/FIXTURE   `evaluate::validate_json` on the raw waPC payload bytes:
//!                      what the wasm `validate` export does.
//!   evaluate/FIXTURE   `evaluate::evaluate` on an already parsed request: the walk
//!                      (locate, plan, apply, validate), nothing else.
//!   parts/FIXTURE/...  where the time of `validate` goes: the parse alone (as the
//!                      SDK's generic `ValidationRequest` does it, as the policy's
//!                      one-pass envelope does it with the object pruned, and as
//!                      its two-pass fallback does it with the object raw), a
//!                      lexical skim of the payload (the least any parse costs),
//!                      and the full and pruned parses of the object alone.
//!   parts/settings     `Settings::from_json` of the bench settings (every request
//!                      carries the settings, so every `validate` pays it).
//!
//! Before measuring, every fixture's verdict is checked (typical-compliant,
//! large and huge are accepted unchanged, typical-mutate is accepted mutated), so a
//! benchmark never silently measures the wrong path.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use kubewarden_policy_sdk::request::ValidationRequest;
use secret_mounts_policy::evaluate::{self, AdmissionRequest, GroupVersionKind};
use secret_mounts_policy::settings::Settings;
use secret_mounts_policy::{envelope, podspec, pruned};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
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
    /// The request alone, to rebuild an `AdmissionRequest` for every `evaluate` run.
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
            let response = evaluate::validate(&payload);
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

fn admission_request(request: &Value) -> AdmissionRequest {
    serde_json::from_value(request.clone()).expect("the fixture is an AdmissionRequest")
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
            |b, payload| b.iter(|| evaluate::validate_json(black_box(payload)).expect("serialises")),
        );
    }
    group.finish();
}

fn evaluate(c: &mut Criterion) {
    let raw = bench_settings();
    let settings = Settings::from_json(raw.to_string().as_bytes()).expect("the bench settings are valid");
    let mut group = c.benchmark_group("evaluate");
    for fixture in load(&raw) {
        tune(&mut group, &fixture);
        group.bench_function(BenchmarkId::from_parameter(fixture.name), |b| {
            b.iter_batched(
                || admission_request(&fixture.request),
                |request| evaluate::evaluate(&settings, request),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// The SDK floor's settings: nothing, unknown fields ignored.
#[derive(Deserialize, Default)]
struct NoSettings {}

/// A mirror of the policy's private two-pass envelope (src/evaluate.rs `Payload`).
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    #[allow(dead_code)]
    settings: Option<&'a RawValue>,
    #[serde(borrow)]
    #[allow(dead_code)]
    request: AdmissionRequest<Option<&'a RawValue>>,
}

fn parts(c: &mut Criterion) {
    let raw = bench_settings();
    let mut group = c.benchmark_group("parts");
    let settings_json = raw.to_string();
    group.bench_function("settings", |b| {
        b.iter(|| Settings::from_json(black_box(settings_json.as_bytes())).expect("valid"))
    });
    // As the policy chooses: the built-in kinds have their shape.
    let choose =
        |kind: &GroupVersionKind| podspec::built_in_pointer(&kind.group, &kind.kind).and_then(pruned::shape_for);
    let deployment = pruned::shape_for("/spec/template/spec").expect("a built-in shape");
    for fixture in load(&raw) {
        tune(&mut group, &fixture);
        let name = fixture.name;
        let payload = fixture.payload.as_slice();
        let object = fixture.request["object"].to_string();
        group.bench_function(format!("{name}/parse-sdk-floor"), |b| {
            b.iter(|| ValidationRequest::<NoSettings>::new(black_box(payload)).expect("parses"))
        });
        group.bench_function(format!("{name}/parse-envelope-one-pass"), |b| {
            b.iter(|| envelope::parse(black_box(payload), &choose).expect("parses"))
        });
        group.bench_function(format!("{name}/parse-envelope-raw-object"), |b| {
            b.iter(|| serde_json::from_slice::<RawEnvelope>(black_box(payload)).expect("parses"))
        });
        group.bench_function(format!("{name}/skim-ignored-any"), |b| {
            b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(payload)).expect("parses"))
        });
        group.bench_function(format!("{name}/object-full"), |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(&object)).expect("parses"))
        });
        group.bench_function(format!("{name}/object-pruned"), |b| {
            b.iter(|| pruned::parse(black_box(&object), deployment).expect("parses"))
        });
    }
    group.finish();
}

criterion_group!(benches, validate, evaluate, parts);
criterion_main!(benches);

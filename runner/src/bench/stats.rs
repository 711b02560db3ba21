//! From samples to the numbers every report prints: latency summaries, and
//! one result per module with its p50 relative to the first module's.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::measure::{FreshSample, Instances, Subject};

/// Latency summary in microseconds (all zero for no samples).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
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
    let (Some(&min), Some(&max)) = (nanos.iter().min(), nanos.iter().max()) else {
        return Stats::default();
    };
    // Fails only for a precision outside 0..=5 or a maximum below 2.
    #[allow(clippy::expect_used)]
    let mut histogram = Histogram::<u64>::new_with_max(max.max(2), 3).expect("3 significant digits are valid");
    for &ns in &nanos {
        histogram.saturating_record(ns);
    }
    let us = |ns: u64| ns as f64 / 1e3;
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

/// Latency summaries of the parts of fresh-instance calls.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
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
    /// This module's p50 over the first module's.
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

/// One result per module, in the order given; ratios against the first.
pub fn results(subjects: &[Subject]) -> Vec<ModuleResult> {
    let mut out: Vec<ModuleResult> = subjects.iter().map(result).collect();
    let base = out.first().map_or(0.0, |r| r.stats.p50);
    for r in &mut out {
        r.p50_ratio = if base > 0.0 { r.stats.p50 / base } else { 0.0 };
    }
    out
}

fn result(s: &Subject) -> ModuleResult {
    let policy = s.instances.policy();
    // Reported for the one instance of the reused-instance mode.
    let (peak_memory, memories) = match &s.instances {
        Instances::Reused(policy, instance) => (instance.memory(), policy.linear_memories()),
        Instances::Fresh(_) => (0, 0),
    };
    ModuleResult {
        path: policy.path.display().to_string(),
        name: policy.label(),
        size_bytes: policy.size,
        compile_ms: policy.compile_time.as_secs_f64() * 1e3,
        instantiate_ms: s.instantiate.as_secs_f64() * 1e3,
        verdict: s.verdict,
        stats: summarize(&s.samples),
        p50_ratio: 1.0,
        memory_initial_bytes: s.initial_memory,
        memory_peak_bytes: peak_memory,
        memories,
        host_calls: s.host_calls,
        host: (!s.host.is_empty()).then(|| summarize(&s.host)),
        fresh: fresh_stats(s),
    }
}

fn fresh_stats(s: &Subject) -> Option<FreshStats> {
    let Instances::Fresh(policy) = &s.instances else {
        return None;
    };
    let part = |pick: fn(&FreshSample) -> Duration| summarize(&s.parts.iter().map(pick).collect::<Vec<_>>());
    Some(FreshStats {
        instantiate: part(|p| p.instantiate),
        call: part(|p| p.call),
        teardown: part(|p| p.teardown),
        instantiations: policy.instantiations(),
    })
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
}

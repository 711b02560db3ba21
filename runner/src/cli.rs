//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::helm_source::SourceRoot;
use crate::host::{Deadline, HostOptions, DEFAULT_TIMEOUT_MS};
use crate::input::SettingsSource;

#[derive(Debug, Parser)]
#[command(
    name = "policy-runner",
    version,
    about = "Run, check and benchmark Kubewarden waPC policies (wasm32-wasip1) locally",
    long_about = "Run, check and benchmark Kubewarden waPC policies locally, on the same \
                  waPC + wasmtime stack as kwctl and policy-server.\n\n\
                  Guest log events (kubewarden/tracing/log) are printed on stderr with \
                  --verbose or POLICY_RUNNER_VERBOSE=1. Kubernetes look-ups \
                  (kubewarden/kubernetes/list_resources_by_namespace) of context-aware \
                  policies are answered from a kwctl session file or from manifests \
                  (--cluster-state); other host capabilities are answered with an error."
)]
pub struct Cli {
    /// Print the policy's log events on stderr (also: POLICY_RUNNER_VERBOSE=1)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one request and print the AdmissionResponse as one JSON line
    /// (like `kwctl run`). Exit 0 whether allowed or rejected, 1 on errors,
    /// invalid settings or a replayed session out of step.
    Run(RunArgs),
    /// Evaluate Kubernetes manifests (YAML/JSON, multi-document, Lists) as
    /// CREATE requests, read as kubectl reads them. Exit 0 when nothing is
    /// rejected, 1 when something is, 2 when a document could not be read or
    /// evaluated (every other document is still judged) or on other errors.
    ///
    /// Context-aware policies: the policy is granted the Kubernetes resources
    /// its metadata declares (contextAwareResources; no --allow-context-aware
    /// is needed, the answers come from files, not from a cluster), and its
    /// look-ups are answered from the checked manifests themselves (a chart's
    /// VaultStaticSecret is listed for its Deployment) and the --cluster-state
    /// files. An object without metadata.namespace is in --namespace, both as
    /// cluster state and in its request.
    Check(CheckArgs),
    /// Time `validate` calls of one or more modules, interleaved, and report
    /// latency percentiles and linear memory (KB/MB are 1024-based).
    ///
    /// Context-aware policies: each module is granted the Kubernetes resources
    /// its metadata declares (embedded by `kwctl annotate`, else
    /// policy-metadata.yml beside it), and its look-ups are answered from the
    /// --cluster-state manifests, the list serialised anew on every call as
    /// policy-server does, inside the timed call.
    Bench(BenchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Policy settings as JSON text
    #[arg(long, value_name = "JSON", conflicts_with = "settings_path")]
    pub settings_json: Option<String>,

    /// Policy settings file (YAML or JSON)
    #[arg(long, value_name = "FILE")]
    pub settings_path: Option<String>,
}

impl SettingsArgs {
    pub fn source(&self) -> SettingsSource {
        SettingsSource {
            json: self.settings_json.clone(),
            path: self.settings_path.clone(),
        }
    }
}

/// How long guest code may run, per call.
#[derive(Debug, Clone, Copy, Args)]
pub struct DeadlineArgs {
    /// Deadline of each policy call in milliseconds (like policy-server's
    /// policy timeout): a policy that runs longer fails the evaluation
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
}

impl DeadlineArgs {
    pub fn deadline(&self) -> Deadline {
        Deadline::from_millis(self.timeout_ms)
    }
}

/// Whether compiled modules are kept between runs.
#[derive(Debug, Clone, Copy, Args)]
pub struct CacheArgs {
    /// Compile the policy anew rather than load the form compiled by an
    /// earlier run (kept, as kwctl keeps it, in wasmtime's cache:
    /// $XDG_CACHE_HOME/wasmtime, else ~/.cache/wasmtime)
    #[arg(long)]
    pub disable_wasmtime_cache: bool,
}

/// How `run` and `check` set up the host: the guest's log with `verbose`,
/// their `--timeout-ms` and their compiled-module cache.
pub fn host_options(verbose: bool, deadline: &DeadlineArgs, cache: &CacheArgs) -> HostOptions {
    HostOptions {
        verbose,
        deadline: deadline.deadline(),
        cache: !cache.disable_wasmtime_cache,
    }
}

/// Manifests standing for the cluster a context-aware policy looks at.
#[derive(Debug, Clone, Args)]
pub struct ClusterStateArgs {
    /// Manifests (YAML/JSON, multi-document, Lists; read as `check` reads
    /// its input, a directory for the manifest files directly in it) whose
    /// objects answer the policy's
    /// kubewarden/kubernetes/list_resources_by_namespace calls, as the list
    /// policy-evaluator returns: the objects of the asked apiVersion, kind
    /// and namespace, in the order read. Repeatable
    #[arg(long = "cluster-state", value_name = "FILE")]
    pub cluster_state: Vec<String>,

    /// Namespace of the manifests' objects that have no metadata.namespace
    /// (kubectl's default namespace)
    #[arg(long, value_name = "NAMESPACE", default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `check`'s report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// One block per object, each finding after its file:line:col
    Text,
    /// One JSON line per object
    Json,
    /// A SARIF 2.1.0 log (code scanning)
    Sarif,
    /// GitLab Code Quality JSON (the merge request widget)
    Codequality,
    /// wgpolicyk8s.io/v1alpha2 PolicyReports, as Kubewarden's audit scanner
    /// writes them (a List for `kubectl apply -f`)
    Policyreport,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// AdmissionRequest or AdmissionReview, JSON or YAML (`-` for stdin)
    #[arg(short = 'r', long, value_name = "FILE")]
    pub request_path: String,

    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(flatten)]
    pub deadline: DeadlineArgs,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// Grant access to the Kubernetes resources of the policy's metadata
    /// `contextAwareResources` (as kwctl): the metadata embedded by `kwctl
    /// annotate`, else --metadata or the policy-metadata.yml beside the
    /// module. Without this flag, or with no metadata at all (kwctl: "Policy
    /// is not annotated"), every Kubernetes look-up fails with "Policy has not
    /// been granted access to Kubernetes <apiVersion>/<kind> resources. The
    /// violation has been reported."
    #[arg(long)]
    pub allow_context_aware: bool,

    /// Answer the policy's Kubernetes look-ups (list_resources_by_namespace)
    /// from a session file in kwctl's format
    /// (written by `kwctl run --record-host-capabilities-interactions`),
    /// strictly in order. A call that differs from the next recorded one, or
    /// one made after the last, fails (the policy gets kwctl's error), is
    /// reported on stderr and makes `run` exit 1 after printing the response;
    /// exchanges left over are a warning
    #[arg(long, value_name = "FILE", conflicts_with = "cluster_state")]
    pub replay_host_capabilities_interactions: Option<PathBuf>,

    /// Write the Kubernetes look-ups answered in this run (from
    /// --cluster-state) to FILE as a session in kwctl's format, to be
    /// replayed later by kwctl or policy-runner
    #[arg(long, value_name = "FILE", conflicts_with = "replay_host_capabilities_interactions")]
    pub record_host_capabilities_interactions: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterStateArgs,

    /// Policy metadata, instead of what `kwctl annotate` embedded in the module
    /// [default: the embedded metadata, else policy-metadata.yml beside the
    /// module, if present]
    #[arg(long, value_name = "FILE")]
    pub metadata: Option<PathBuf>,

    /// The policy module
    #[arg(value_name = "POLICY.wasm")]
    pub policy: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(flatten)]
    pub deadline: DeadlineArgs,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// Report format
    #[arg(short, long, value_enum, default_value_t = CheckFormat::Text)]
    pub output: CheckFormat,

    /// Also write a JUnit XML report to FILE (one testcase per object)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Also write a SARIF 2.1.0 report to FILE (one result per finding)
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,

    /// Also write a GitLab Code Quality report to FILE (one issue per finding)
    #[arg(long, value_name = "FILE")]
    pub codequality: Option<PathBuf>,

    /// The policy's name in the cluster (its ClusterAdmissionPolicy's), for
    /// `-o policyreport` [default: the module's file name without extension]
    #[arg(long, value_name = "NAME")]
    pub policy_name: Option<String>,

    /// The policy's rule catalogue (YAML: a list of {id, name,
    /// shortDescription, fullDescription, help, helpUri}), which describes
    /// the rules in the SARIF report [default: the catalogue in the module's
    /// policy-runner.rules section, if any; else rules are known by id only]
    #[arg(long, value_name = "FILE")]
    pub rules: Option<String>,

    /// Where a chart's templates are in the repository, for `helm template`
    /// output (`# Source: CHART/templates/x.yaml` before each document):
    /// CHART=DIR (e.g. mychart=charts/mychart; a subchart's findings, under
    /// CHART/charts/, map under DIR too). The SARIF report places a finding
    /// in DIR/templates/x.yaml when that file exists (relative to the
    /// working directory: run from the repository's root), the rendered
    /// place as a related location. Repeatable
    #[arg(long = "source-root", value_name = "CHART=DIR")]
    pub source_roots: Vec<SourceRoot>,

    /// Print a summary: in text mode the summary line (always last on
    /// stdout); with `-o json` a last `{"summary": {...}}` line
    #[arg(long)]
    pub summary: bool,

    /// Policy metadata with the rules selecting objects and the Kubernetes
    /// resources (contextAwareResources) the policy may list [default: the
    /// metadata embedded by `kwctl annotate`, else policy-metadata.yml beside
    /// the module, if present]. `check` grants the policy the resources its
    /// metadata declares (no --allow-context-aware needed: the answers come
    /// from the given files, not from a cluster); other look-ups fail as in
    /// kwctl
    #[arg(long, value_name = "FILE")]
    pub metadata: Option<PathBuf>,

    /// A Kubewarden ClusterAdmissionPolicy or AdmissionPolicy manifest
    /// (policies.kubewarden.io/v1; the file applied to the cluster; several
    /// documents, repeatable): each policy judges, with its `settings`, the
    /// objects its `rules`, namespace and `namespaceSelector`/`objectSelector`
    /// send it; a `mode: monitor` policy's rejections are reported, not
    /// enforced (exit 0). The module judged is POLICY.wasm; the manifest's
    /// `module` is compared with it when it is a local file
    #[arg(long = "policy", id = "admission_policy", value_name = "FILE", conflicts_with_all = ["settings_json", "settings_path"])]
    pub admission_policies: Vec<String>,

    /// The audit annotation in which the policy names the rules an object
    /// breaks, comma-separated (e.g. `example.com/broken-rules`) [default:
    /// the one its metadata names in the `policy-runner/rule-annotation`
    /// annotation; else no annotation carries rule ids]
    #[arg(long, value_name = "KEY")]
    pub rule_annotation: Option<String>,

    // Every object of the checked manifests is cluster state too (a chart's
    // VaultStaticSecret answers the look-ups made for its Deployment), and
    // --namespace is also the namespace of the requests for objects without
    // one: see `Command::Check`.
    #[command(flatten)]
    pub cluster: ClusterStateArgs,

    /// The policy module
    #[arg(value_name = "POLICY.wasm")]
    pub policy: PathBuf,

    /// Read MANIFEST directories recursively: the manifest files of their
    /// subdirectories too
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// Accept an input that holds no object at all (otherwise an error, exit
    /// 2: often the command writing the input failed)
    #[arg(long)]
    pub allow_empty: bool,

    /// Manifest files (`-` for stdin) or directories: a directory stands for
    /// its .yaml, .yml and .json files, in name order, as `kubectl apply -f`
    /// reads it
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifests: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(flatten)]
    pub deadline: DeadlineArgs,

    /// AdmissionRequest or AdmissionReview, JSON or YAML (`-` for stdin)
    #[arg(short = 'r', long, value_name = "FILE")]
    pub request_path: String,

    /// Timed `validate` calls per module
    #[arg(short = 'n', long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: u64,

    /// Untimed `validate` calls per module before timing
    #[arg(long, default_value_t = 20)]
    pub warmup: u64,

    /// Report format
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Evaluate every call in a new instance, as policy-server does per
    /// request: instantiate from the linked module, call `validate` once,
    /// drop the instance; times the whole and each part. Linear memory is
    /// not reported (each instance holds its own). Default: one instance for
    /// all calls
    #[arg(long)]
    pub fresh_instance: bool,

    // Kubernetes look-ups: see `Command::Bench`.
    #[command(flatten)]
    pub cluster: ClusterStateArgs,

    /// Policy modules; with several, calls are interleaved (A B A B ...)
    #[arg(value_name = "POLICY.wasm", required = true)]
    pub policies: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn settings_flags_conflict() {
        let r = Cli::try_parse_from([
            "policy-runner",
            "run",
            "-r",
            "req.json",
            "--settings-json",
            "{}",
            "--settings-path",
            "s.yml",
            "p.wasm",
        ]);
        assert!(r.is_err());
    }

    #[test]
    fn bench_defaults() {
        let cli = Cli::try_parse_from(["policy-runner", "bench", "-r", "r.json", "a.wasm", "b.wasm"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(b.iterations, 200);
        assert_eq!(b.policies.len(), 2);
        assert_eq!(b.output, OutputFormat::Text);
        assert_eq!(b.deadline.timeout_ms, 2000);
        assert!(!b.fresh_instance);
        let cli =
            Cli::try_parse_from(["policy-runner", "bench", "--fresh-instance", "-r", "r.json", "a.wasm"]).unwrap();
        let Command::Bench(b) = cli.command else {
            panic!("not bench")
        };
        assert!(b.fresh_instance);
    }

    #[test]
    fn timeout_is_a_positive_number_of_milliseconds() {
        let cli = Cli::try_parse_from(["policy-runner", "run", "-r", "r", "--timeout-ms", "50", "p.wasm"]).unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.deadline.deadline().millis(), 50);
        assert!(Cli::try_parse_from(["policy-runner", "check", "--timeout-ms", "0", "p.wasm", "m.yaml"]).is_err());
    }
}

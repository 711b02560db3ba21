//! policy-runner: run, check and benchmark Kubewarden waPC policies locally.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod admission_match;
mod admission_policy;
mod bench;
mod catalogue;
mod check;
mod cli;
mod codequality;
mod context;
mod findings;
mod helm_source;
mod host;
mod input;
mod junit;
mod kube_yaml;
mod kubernetes;
mod manifests;
mod metadata;
mod patch;
mod policyreport;
mod position;
mod report;
mod request;
mod response;
mod results;
mod run;
mod sarif;
mod settings_position;
mod stream;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn verbose_from_env() -> bool {
    std::env::var("POLICY_RUNNER_VERBOSE")
        .map(|v| !matches!(v.trim(), "" | "0" | "false" | "no"))
        .unwrap_or(false)
}

fn main() -> ExitCode {
    // Whatever happens, report it as one line rather than a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload_as_str().unwrap_or("unknown panic");
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "policy-runner: error: internal error: {}{location}",
            payload.replace('\n', " ")
        );
    }));

    let cli = Cli::parse();
    let verbose = cli.verbose || verbose_from_env();
    let (result, error_exit, settings) = match &cli.command {
        Command::Run(args) => (run::run(args, verbose), 1, &args.settings),
        Command::Check(args) => (check::check(args, verbose), results::EXIT_ERROR, &args.settings),
        Command::Bench(args) => (bench::bench(args, verbose), 2, &args.settings),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let message = settings_position::describe(&err, &settings.source());
            eprintln!("policy-runner: error: {message}");
            ExitCode::from(error_exit)
        }
    }
}

//! The `alps` command: a thin layer over the `alps` library. Each subcommand
//! parses its arguments and calls one library function.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alps",
    version,
    about = "I/O-aware ALPS: probes, learner, backends, comparison"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run CMD as one tagged invocation and print where its time went.
    Probe {
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
        /// Function id to tag the invocation with.
        #[arg(long, default_value_t = 0)]
        function_id: u32,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Run a workload live under one policy and write records and a summary.
    Run(RunArgs),
    /// Run EEVDF, ALPS, ALPS-IO (and SFS) side by side on identical arrivals.
    Compare(CompareArgs),
    /// The comparison in the discrete-event simulator, at any core count.
    Simulate(SimulateArgs),
    /// Replay a live comparison in the simulator; per-class sim-vs-live error.
    Validate {
        /// A live `alps compare` output directory.
        #[arg(long)]
        compare: std::path::PathBuf,
        /// Also write the table (Markdown) here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Export a run's records (and stints) as Parquet or CSV with its metadata.
    Export {
        /// A run directory (as written by `alps run`).
        #[arg(long)]
        run: std::path::PathBuf,
        #[arg(long, value_enum, default_value = "parquet")]
        format: alps::export::Format,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Learn a policy from a run's records and print it.
    Learn {
        /// A run directory or a records.jsonl file.
        #[arg(long)]
        records: std::path::PathBuf,
        #[arg(long, value_enum, default_value = "alps")]
        variant: VariantArg,
        /// Print the policy as JSON.
        #[arg(long)]
        json: bool,
        /// Cores the SRPT replay simulates (default: this machine's).
        #[arg(long)]
        cores: Option<u32>,
        /// CPU utilization (percent) for the overload fine-tune.
        #[arg(long, default_value_t = 0.0)]
        util: f64,
    },
    /// Run an ablation sweep (ablations/*.toml): results.csv, results.md, plots.
    Ablate {
        file: std::path::PathBuf,
        /// Output directory (default: results/ablations/<file stem>).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Only write jobs.txt (one command per independent job).
        #[arg(long)]
        jobs_only: bool,
        /// Only merge the results already present.
        #[arg(long)]
        merge: bool,
    },
    /// Run one job of an ablation (what jobs.txt lines call).
    #[command(hide = true)]
    AblatePoint {
        file: std::path::PathBuf,
        #[arg(long)]
        point: String,
        #[arg(long)]
        load: Option<f64>,
        #[arg(long)]
        io_share: Option<f64>,
        #[arg(long, default_value_t = 0)]
        trial: u32,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Render the paper from paper/data: every figure, table and number.
    Paper {
        #[arg(long, default_value = "paper/paper.md.in")]
        template: std::path::PathBuf,
        #[arg(long, default_value = "paper/data")]
        data: std::path::PathBuf,
        #[arg(long, default_value = "paper/build")]
        out: std::path::PathBuf,
    },
    /// Overhead and latency numbers (probes, backend).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    #[command(hide = true)]
    BenchPingpong { n: u64 },
    /// The guardian that restores scheduling state if the agent dies.
    #[command(hide = true)]
    Guard,
    /// The sched_ext backend's acceptance checks (run inside the VM).
    #[cfg(feature = "scx")]
    #[command(hide = true)]
    ScxSelftest {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a function body in this process (what the runner launches).
    #[command(hide = true)]
    Fn {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Options shared by `run` and `compare`.
#[derive(clap::Args, Clone)]
struct WorkloadArgs {
    /// Built-in (cpu, io, mixed), a .toml file, or trace:FILE.
    #[arg(long, default_value = "mixed")]
    workload: String,
    /// Seconds of arrivals.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Target CPU load, as a fraction of the machine's capacity.
    #[arg(long)]
    load: Option<f64>,
    /// Mixed workload: fraction of capacity demanded by I/O-bound and deceptive classes.
    #[arg(long)]
    io_share: Option<f64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of arrivals left out of the summary (the learner warms up).
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Learner update period, seconds.
    #[arg(long, default_value_t = 1.0)]
    update_period: f64,
    /// Record the stint timeline (for the inversion metric).
    #[arg(long)]
    stints: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    w: WorkloadArgs,
    #[arg(long, value_enum, default_value = "eevdf")]
    policy: alps::run::PolicyName,
    #[arg(long, value_enum, default_value = "stock-strict")]
    backend: alps::run::BackendName,
    /// Output directory.
    #[arg(long)]
    out: std::path::PathBuf,
}

fn run_config(
    w: &WorkloadArgs,
    policy: alps::run::PolicyName,
    backend: alps::run::BackendName,
    out: &std::path::Path,
) -> alps::run::RunConfig {
    let mut c = alps::run::RunConfig::new(&w.workload, policy, out);
    c.backend = backend;
    c.duration_s = w.duration;
    c.load = w.load;
    c.io_share = w.io_share;
    c.seed = w.seed;
    c.warmup_s = w.warmup;
    c.update_period_s = w.update_period;
    c.stints = w.stints;
    c.progress = !w.no_progress;
    c
}

#[derive(clap::Args)]
struct CompareArgs {
    #[arg(long, default_value = "mixed")]
    workload: String,
    /// Comma-separated: eevdf, alps, alps-io, sfs.
    #[arg(long, default_value = "eevdf,alps,alps-io,sfs")]
    policies: String,
    #[arg(long, value_enum, default_value = "stock-strict")]
    backend: alps::run::BackendName,
    #[arg(long, default_value_t = 3)]
    trials: u32,
    /// Seconds of arrivals per run.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    #[arg(long)]
    load: Option<f64>,
    #[arg(long)]
    io_share: Option<f64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    #[arg(long, default_value_t = 1.0)]
    update_period: f64,
    /// Skip the stint timeline (no inversion metric, slightly less overhead).
    #[arg(long)]
    no_stints: bool,
    #[arg(long)]
    no_progress: bool,
    /// Print the table of an existing compare.json instead of running.
    #[arg(long)]
    show: bool,
    #[arg(long, default_value = "results/compare")]
    out: std::path::PathBuf,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Built-in, .toml, trace:FILE, run:DIR (a live run's records) or dataset:FILE.
    #[arg(long, default_value = "mixed")]
    workload: String,
    #[arg(long, default_value_t = 56)]
    cores: u32,
    #[arg(long)]
    load: Option<f64>,
    #[arg(long)]
    io_share: Option<f64>,
    /// Seconds of arrivals (traces: <= 0 means the whole trace).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Comma-separated: eevdf, fifo, rr, srpt, sfs, alps, alps-io.
    #[arg(long, default_value = "eevdf,srpt,sfs,alps,alps-io")]
    policies: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 1)]
    trials: u32,
    /// Learner period on the simulated clock, seconds.
    #[arg(long, default_value_t = 5.0)]
    update_period: f64,
    #[arg(long, default_value = "results/simulate")]
    out: std::path::PathBuf,
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Per-program BPF cost and the slowdown of a switch-heavy workload.
    Probes {
        #[arg(long, default_value_t = 7)]
        rounds: u32,
        #[arg(long, default_value_t = 200_000)]
        round_trips: u64,
        /// Also write the numbers as JSON.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
    /// Start-to-applied and slice-to-demotion latencies of stock-strict.
    Backend {
        #[arg(long, default_value_t = 15.0)]
        duration: f64,
        #[arg(long, default_value = "results/bench-backend")]
        out: std::path::PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VariantArg {
    Alps,
    AlpsIo,
}

fn compare_cmd(a: CompareArgs) -> anyhow::Result<i32> {
    if a.show {
        alps::compare::print_compare(&alps::compare::read_compare(&a.out)?);
        return Ok(0);
    }
    let mut c = alps::compare::CompareConfig::new(&a.out);
    c.workload = a.workload;
    c.policies = alps::run::PolicyName::parse_list(&a.policies)?;
    c.backend = a.backend;
    c.trials = a.trials.max(1);
    c.duration_s = a.duration;
    c.load = a.load;
    c.io_share = a.io_share;
    c.seed = a.seed;
    c.warmup_s = a.warmup;
    c.update_period_s = a.update_period;
    c.stints = !a.no_stints;
    c.progress = !a.no_progress;
    let r = alps::compare::compare(&c)?;
    alps::compare::print_compare(&r);
    println!("results in {}", a.out.display());
    Ok(0)
}

fn simulate_cmd(a: SimulateArgs) -> anyhow::Result<i32> {
    let mut c = alps::simulate::SimulateConfig::new(&a.out);
    c.workload = a.workload;
    c.cores = a.cores;
    c.load = a.load;
    c.io_share = a.io_share;
    c.duration_s = a.duration;
    c.policies =
        alps_policy::sim::SimPolicy::parse_list(&a.policies).map_err(|e| anyhow::anyhow!("{e}"))?;
    c.seed = a.seed;
    c.trials = a.trials.max(1);
    c.update_s = a.update_period;
    let r = alps::simulate::simulate(&c)?;
    alps::compare::print_compare(&r);
    println!("results in {}", a.out.display());
    Ok(0)
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Probe {
            json,
            function_id,
            cmd,
        } => alps::probe::probe(&cmd, json, function_id),
        Cmd::Fn { args } => alps::functions::main_args(&args),
        #[cfg(feature = "scx")]
        Cmd::ScxSelftest { args } => alps::scx_selftest::main_args(&args),
        Cmd::Learn {
            records,
            variant,
            json,
            cores,
            util,
        } => {
            let v = match variant {
                VariantArg::Alps => alps_policy::Variant::Alps,
                VariantArg::AlpsIo => alps_policy::Variant::AlpsIo,
            };
            let cores = cores.unwrap_or(alps::sysstat::num_cpus() as u32);
            alps::learn::learn_from(&records, v, cores, util).and_then(|(p, names)| {
                if json {
                    println!("{}", serde_json::to_string_pretty(&p)?);
                } else {
                    alps::learn::print_policy(&p, &names);
                }
                Ok(0)
            })
        }
        Cmd::Compare(a) => compare_cmd(a),
        Cmd::Simulate(a) => simulate_cmd(a),
        Cmd::Validate { compare, out } => alps::simulate::validate(&compare).and_then(|rows| {
            let md = alps::simulate::validation_markdown(&rows, &compare.display().to_string());
            print!("{md}");
            if let Some(p) = out {
                std::fs::write(&p, &md)?;
            }
            Ok(0)
        }),
        Cmd::Export { run, format, out } => alps::export::export(&run, format, &out).map(|e| {
            println!("wrote {} records to {}", e.rows, e.records.display());
            if let Some(s) = e.stints {
                println!("stints in {}", s.display());
            }
            if let Some(m) = e.meta {
                println!("run metadata in {}", m.display());
            }
            0
        }),
        Cmd::Ablate {
            file,
            out,
            jobs_only,
            merge,
        } => {
            let out = out.unwrap_or_else(|| {
                std::path::Path::new("results/ablations").join(file.file_stem().unwrap_or_default())
            });
            alps::ablate::ablate(&file, &out, jobs_only, merge).map(|rows| {
                if !rows.is_empty() {
                    if let Ok(md) = std::fs::read_to_string(out.join("results.md")) {
                        print!("{md}");
                    }
                    println!("results in {}", out.display());
                }
                0
            })
        }
        Cmd::AblatePoint {
            file,
            point,
            load,
            io_share,
            trial,
            out,
        } => alps::ablate::Ablation::load(&file).and_then(|a| {
            let job = alps::ablate::Job {
                point,
                load,
                io_share,
                trial,
            };
            alps::ablate::run_job(&a, &job, &out).map(|_| 0)
        }),
        Cmd::Paper {
            template,
            data,
            out,
        } => alps::paper::build(&template, &data, &out).map(|p| {
            println!("wrote {}", p.display());
            0
        }),
        Cmd::Bench { what } => match what {
            BenchWhat::Probes {
                rounds,
                round_trips,
                json,
            } => alps::bench::bench_probes(rounds.max(1), round_trips, json.as_deref()),
            BenchWhat::Backend { duration, out } => alps::bench::bench_backend(duration, &out),
        },
        Cmd::BenchPingpong { n } => alps::bench::pingpong(n),
        Cmd::Guard => alps_policy::backend::guard::guard_main(),
        Cmd::Run(a) => alps::run::run(&run_config(&a.w, a.policy, a.backend, &a.out)).map(|o| {
            alps::summary::print_summary(&o.summary);
            println!("results in {}", a.out.display());
            if o.interrupted {
                130
            } else {
                0
            }
        }),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("alps: error: {e:#}");
            std::process::exit(2);
        }
    }
}

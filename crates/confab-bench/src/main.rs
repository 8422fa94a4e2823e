//! `confab-bench`: the load generator's command line. See docs/benchmarks.md.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use confab_bench::Workload;
use confab_bench::setup::MAX_DURATION_SECS;

/// Load generator for confab (and IRC servers), on loopback only.
#[derive(Parser, Debug)]
#[command(name = "confab-bench", version)]
struct Cli {
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Runtime worker threads (default: the CPUs this process may use,
    /// so `taskset -c 1` gives one).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Workload(Workload),
    /// A bare IRC relay (no chat logic, nothing stored): the reference
    /// that fan-out figures are compared with. Listens on loopback only
    /// and stops by itself after --for seconds.
    Relay(confab_bench::relay::RelayOpts),
}

/// Time allowed beyond --duration for connecting clients and draining.
const SETUP_ALLOWANCE: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, 64);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let workload = match cli.command {
        Command::Workload(w) => w,
        Command::Relay(opts) => {
            let served = runtime.block_on(confab_bench::relay::serve(&opts));
            runtime.shutdown_timeout(Duration::from_secs(1));
            return match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("confab-bench relay: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    // The last word on stopping: whatever happens inside, the run ends.
    let cap = Duration::from_secs_f64(MAX_DURATION_SECS) + SETUP_ALLOWANCE;
    let result = runtime.block_on(async {
        tokio::time::timeout(cap, workload.run())
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("stopped after the hard cap of {cap:?}")))
    });
    // Tasks still reading are dropped with the runtime, without waiting.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(report) => {
            if cli.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("confab-bench: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("confab-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

use clap::Parser;
use fedora_ci::cli::{Cli, Command};
use fedora_ci::replay::Incomplete;
use fedora_ci::telemetry::LogFormat;
use std::os::unix::process::CommandExt as _;

/// Stack of every thread that may parse AMQP frames. lapin parses header tables recursively,
/// a few KiB of stack per nesting level, and a 128 KiB frame (RabbitMQ's default `frame_max`)
/// holds about 18,700 levels: with the default 2 MiB a hostile publisher's headers would abort
/// the process at every redelivery. Untouched stack pages cost address space, not memory.
const THREAD_STACK_BYTES: usize = 256 * 1024 * 1024;

fn main() -> std::process::ExitCode {
    with_large_default_thread_stack();
    let cli = Cli::parse();
    let log_format = cli.log_format;
    // The listener waits on one socket and one database connection at a time: a single thread
    // serves it, in a fraction of the memory of a thread pool.
    let single_threaded = matches!(cli.command, Command::Listen);
    let spawned = std::thread::Builder::new()
        .name("fedora-ci".to_owned())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || run(cli, single_threaded, log_format));
    match spawned.map(|thread| thread.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_panic)) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: cannot start the main thread: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// lapin parses frames on a thread of its own, `lapin-io-loop`, spawned with the default stack
/// size, which only `RUST_MIN_STACK` sets and which std reads before our code can change it:
/// without the variable, the process runs itself again with it.
fn with_large_default_thread_stack() {
    const VARIABLE: &str = "RUST_MIN_STACK";
    if std::env::var_os(VARIABLE).is_some() {
        return;
    }
    let mut arguments = std::env::args_os();
    let (Ok(executable), Some(name)) = (std::env::current_exe(), arguments.next()) else {
        return;
    };
    let error = std::process::Command::new(executable)
        .arg0(name)
        .args(arguments)
        .env(VARIABLE, THREAD_STACK_BYTES.to_string())
        .exec();
    eprintln!(
        "warning: cannot run again with {VARIABLE} set, deep AMQP headers may abort: {error}"
    );
}

fn run(cli: Cli, single_threaded: bool, log_format: LogFormat) -> std::process::ExitCode {
    let runtime = if single_threaded {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .thread_stack_size(THREAD_STACK_BYTES)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fedora_ci::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            report_failure(&error, log_format);
            match error.downcast_ref::<Incomplete>() {
                Some(_) => std::process::ExitCode::from(Incomplete::EXIT_CODE),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}

/// Says why the command failed, once: a plain `error: …` line for people, or one JSON log line
/// for log collectors (`--log-format json`).
fn report_failure(error: &anyhow::Error, log_format: LogFormat) {
    match log_format {
        LogFormat::Human => eprintln!("error: {error:#}"),
        LogFormat::Json => tracing::error!(error = %format!("{error:#}"), "fedora-ci failed"),
    }
}

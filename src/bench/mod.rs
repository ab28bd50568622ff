//! `fedora-ci bench`: throughput measurements reported in docs/benchmarks.md.

mod intake;
mod queue;

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Queue throughput: tasks claimed and completed per second, per backend and worker count.
    Queue {
        /// Database to measure; repeat for several [default: a temporary SQLite file].
        #[arg(long = "database-url")]
        database_urls: Vec<String>,
        /// Tasks per measurement.
        #[arg(long, default_value_t = 20_000)]
        tasks: usize,
        /// Worker counts to measure, each worker with its own connection pool.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
        workers: Vec<usize>,
        /// Tasks each worker runs at a time.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Intake throughput: a `fedora-ci listen` process drains a RabbitMQ queue into
    /// PostgreSQL; also the filtering rate alone and the listener's peak memory.
    Intake {
        /// PostgreSQL server; the run works in a schema of its own and drops it after.
        #[arg(long = "database-url")]
        database_url: String,
        #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2F")]
        amqp_url: String,
        /// Messages published before the listener starts.
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Share of the messages that are for Fedora CI, in percent.
        #[arg(long, default_value_t = 10)]
        relevant_percent: usize,
        /// The captured messages to build the stream from.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))]
        fixtures: PathBuf,
    },
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Queue {
            database_urls,
            tasks,
            workers,
            concurrency,
        } => queue::run(database_urls, tasks, workers, concurrency).await,
        BenchCommand::Intake {
            database_url,
            amqp_url,
            messages,
            relevant_percent,
            fixtures,
        } => {
            intake::run(
                &database_url,
                &amqp_url,
                messages,
                relevant_percent,
                &fixtures,
            )
            .await
        }
    }
}

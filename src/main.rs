use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = fedora_ci::cli::Cli::parse();
    match fedora_ci::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "fedora-ci failed");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `weavedrive`: read Arweave data as a local disk.

mod access_args;
mod cache_args;
mod cli;
mod commands;
mod gateway_args;
mod malloc_tuning;
mod metrics_endpoint;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`weavedrive get ID | head`), like other Unix tools.
    // SAFETY: restoring the default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    malloc_tuning::limit_arenas();
    let cli = cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEAVEDRIVE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weavedrive: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

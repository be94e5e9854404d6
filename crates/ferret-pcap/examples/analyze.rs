//! Prints the JSON report of a capture: `analyze FILE` (the library without the
//! ferret binary, handy for profiling).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: analyze FILE");
        return ExitCode::from(2);
    };
    match ferret_pcap::analyze_file(
        std::path::Path::new(&path),
        &ferret_pcap::Options::default(),
    ) {
        Ok(r) => match serde_json::to_writer(std::io::BufWriter::new(std::io::stdout().lock()), &r)
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("analyze: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("analyze: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Prints the report of a capture as text, or JSON with `--json`:
//! `analyze [--json] FILE` (the library without the ferret binary, for profiling).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let Some(path) = args.iter().find(|a| *a != "--json") else {
        eprintln!("usage: analyze [--json] FILE");
        return ExitCode::from(2);
    };
    match ferret_pcap::analyze_file(
        std::path::Path::new(&path),
        &ferret_pcap::Options::default(),
    ) {
        Ok(r) if !json => {
            print!("{}", ferret_pcap::render_text(&r));
            ExitCode::SUCCESS
        }
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

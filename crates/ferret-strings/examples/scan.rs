//! Prints the IOCs of the files named on the command line as JSON, with the
//! time taken; handy for checking detector precision on real binaries.
//!
//! `cargo run --release -p ferret-strings --example scan -- FILE...`

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let opts = ferret_strings::StringOptions::default();
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args().skip(1) {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                status = ExitCode::FAILURE;
                continue;
            }
        };
        let t = Instant::now();
        let n = ferret_strings::iter_strings(&data, &opts).count();
        let extract_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let analysis = ferret_strings::analyze(&data, &opts);
        let secs = t.elapsed().as_secs_f64();
        let mb = data.len() as f64 / 1e6;
        eprintln!(
            "{path}: {} bytes, {n} strings; strings {:.0} MB/s, strings+IOCs {:.0} MB/s",
            data.len(),
            mb / extract_secs,
            mb / secs
        );
        match serde_json::to_string_pretty(&analysis.iocs) {
            Ok(json) => println!("{path}\n{json}"),
            Err(e) => {
                eprintln!("{path}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

//! Renders report.html for analysis directories: `cargo run --example render -- DIR...`.
fn main() -> std::process::ExitCode {
    let mut status = std::process::ExitCode::SUCCESS;
    for dir in std::env::args_os().skip(1) {
        let start = std::time::Instant::now();
        match ferret_html::write_report_dir(std::path::Path::new(&dir)) {
            Ok(p) => println!(
                "{} ({} bytes, {:.3} s)",
                p.display(),
                std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
                start.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("{}: {e}", std::path::Path::new(&dir).display());
                status = std::process::ExitCode::FAILURE;
            }
        }
    }
    status
}

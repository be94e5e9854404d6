use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    println!("ferret {}", env!("CARGO_PKG_VERSION"));
    println!(
        "yara: {}",
        if cfg!(feature = "yara") {
            "yes (yara-x)"
        } else {
            "no"
        }
    );
    Ok(ExitCode::SUCCESS)
}

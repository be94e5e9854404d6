//! Prints ferret-elf's report for each file given on the command line as JSON.
//! With `--time`, parses every file and prints only the elapsed time (for benchmarks);
//! `--no-entropy` skips per-section entropy.

use std::time::Instant;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let timing = args.first().is_some_and(|a| a == "--time");
    if timing {
        args.remove(0);
    }
    let mut opts = ferret_elf::Options::default();
    if args.first().is_some_and(|a| a == "--no-entropy") {
        args.remove(0);
        opts.section_entropy = false;
    }
    let start = Instant::now();
    let mut parsed = 0usize;
    for path in &args {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        match ferret_elf::parse_with(&data, &opts) {
            Ok(info) => {
                parsed += 1;
                if !timing {
                    match serde_json::to_string_pretty(&info) {
                        Ok(s) => println!("{s}"),
                        Err(e) => eprintln!("{path}: {e}"),
                    }
                }
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
    if timing {
        println!("{parsed} ELF files in {:?}", start.elapsed());
    }
}

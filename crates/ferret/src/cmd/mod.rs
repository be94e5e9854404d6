//! One module per subcommand: its clap arguments and the glue to its library crate.

pub mod audit;
pub mod pcap;
pub mod rules;
pub mod version;

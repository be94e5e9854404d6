//! One module per subcommand: its clap arguments and the glue to its library crate.

pub mod analyze;
pub mod audit;
pub mod list;
pub mod monitor;
pub mod pcap;
pub mod rules;
pub mod serve;
pub mod show;
pub mod static_;
pub mod token;
pub mod version;
pub mod worker;

//! YARA glue: the real thing when built with the `yara` feature, otherwise a stand-in
//! that refuses rule options instead of silently ignoring them.

use std::path::PathBuf;

// Without YARA only `dirs` matters (to refuse it); the rest is for the real loader.
#[cfg_attr(not(feature = "yara"), allow(dead_code))]
pub struct YaraArgs<'a> {
    pub enabled: bool,
    pub bundled: bool,
    pub dirs: &'a [PathBuf],
    pub cache_dir: Option<PathBuf>,
}

#[cfg(feature = "yara")]
mod imp {
    use super::*;
    use anyhow::Context as _;
    use ferret_report::YaraResult;
    use ferret_yara::{CompiledRules, LoadOptions, LoadReport, RuleSource, ScanOptions};

    pub struct Yara {
        rules: Option<CompiledRules>,
    }

    pub struct Scanner<'r>(ferret_yara::Scanner<'r>);

    impl Scanner<'_> {
        pub fn scan(&mut self, data: &[u8]) -> YaraResult {
            self.0.scan(data)
        }
    }

    impl Yara {
        pub fn load(args: &YaraArgs<'_>) -> anyhow::Result<Self> {
            if !args.enabled {
                return Ok(Self { rules: None });
            }
            let mut sources = if args.bundled {
                ferret_yara::bundled()
            } else {
                Vec::new()
            };
            sources.extend(args.dirs.iter().map(|d| RuleSource::from_path(d.as_path())));
            if sources.is_empty() {
                return Ok(Self { rules: None });
            }
            let rules = ferret_yara::load(
                &sources,
                &LoadOptions {
                    cache_dir: args.cache_dir.clone(),
                },
            )
            .context("loading YARA rules")?;
            for f in &rules.report.failures {
                match f.line {
                    Some(l) => eprintln!(
                        "ferret: YARA rule file {}:{l} skipped: {}",
                        f.path, f.message
                    ),
                    None => eprintln!("ferret: YARA rule file {} skipped: {}", f.path, f.message),
                }
            }
            Ok(Self { rules: Some(rules) })
        }

        pub fn report(&self) -> Option<&LoadReport> {
            self.rules.as_ref().map(|r| &r.report)
        }

        pub fn note(&self) -> Option<&str> {
            self.rules
                .as_ref()
                .and_then(|r| r.report.cache_note.as_deref())
        }

        pub fn scanner(&self) -> Option<Scanner<'_>> {
            self.rules
                .as_ref()
                .map(|r| Scanner(ferret_yara::Scanner::new(r, &ScanOptions::default())))
        }
    }
}

#[cfg(not(feature = "yara"))]
mod imp {
    use super::*;
    use ferret_report::YaraResult;

    pub struct Yara;

    pub struct Scanner;

    impl Scanner {
        pub fn scan(&mut self, _data: &[u8]) -> YaraResult {
            YaraResult::default()
        }
    }

    impl Yara {
        pub fn load(args: &YaraArgs<'_>) -> anyhow::Result<Self> {
            if !args.dirs.is_empty() {
                anyhow::bail!(
                    "--rules needs YARA, and this ferret was built without the `yara` feature"
                );
            }
            Ok(Self)
        }

        pub fn report(&self) -> Option<&()> {
            None
        }

        pub fn note(&self) -> Option<&str> {
            None
        }

        pub fn scanner(&self) -> Option<Scanner> {
            None
        }
    }
}

pub use imp::Yara;

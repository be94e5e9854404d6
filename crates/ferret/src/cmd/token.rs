//! `ferret token`: API tokens of `ferret serve` (stored hashed by ferret-queue).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args as ClapArgs, Subcommand};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
    /// Task database (as for `ferret serve`) [default: DATA/queue.db].
    #[arg(long, value_name = "URL", global = true)]
    db: Option<String>,
    /// Data directory [default: $FERRET_DATA_DIR, else $XDG_DATA_HOME/ferret, else
    /// ~/.local/share/ferret].
    #[arg(long, value_name = "DIR", global = true)]
    data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (shown this once; only its hash is stored).
    Create {
        /// A unique name: 1 to 64 of A-Z a-z 0-9 . _ -
        name: String,
    },
    /// List the tokens (names and times, never secrets).
    List,
    /// Revoke (delete) a token.
    Revoke {
        /// The token's name.
        name: String,
    },
}

fn when(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 0 => super::list::utc(ms as u64 / 1000),
        _ => "never".to_owned(),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = match args.data {
        Some(d) => d,
        None => ferret_store::data_dir()?,
    };
    let db = args.db.unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let queue = ferret_queue::Queue::open(&db, &data)
            .await
            .with_context(|| format!("opening the task database {db:?}"))?;
        let mut out = io::stdout().lock();
        match args.command {
            TokenCommand::Create { name } => {
                let (info, secret) = queue.create_token(&name).await?;
                // The secret alone on stdout, for scripts; the rest on stderr.
                writeln!(out, "{secret}")?;
                eprintln!(
                    "ferret token: created {:?}; the secret above is shown only now \
                     (send it as: Authorization: Bearer <secret>)",
                    info.name
                );
            }
            TokenCommand::List => {
                let tokens = queue.list_tokens().await?;
                if tokens.is_empty() {
                    eprintln!(
                        "ferret token: no tokens (create one with `ferret token create NAME`)"
                    );
                } else {
                    writeln!(
                        out,
                        "{:<32} {:<20} LAST USED (UTC)",
                        "NAME", "CREATED (UTC)"
                    )?;
                    for t in tokens {
                        writeln!(
                            out,
                            "{:<32} {:<20} {}",
                            t.name,
                            when(Some(t.created_at)),
                            when(t.last_used_at)
                        )?;
                    }
                }
            }
            TokenCommand::Revoke { name } => {
                if !queue.revoke_token(&name).await? {
                    eprintln!("ferret token: no token named {name:?}");
                    return Ok(ExitCode::from(1));
                }
                eprintln!("ferret token: revoked {name:?}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

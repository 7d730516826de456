//! `ensure-postgres`: prints the URL of a PostgreSQL server that answers, found, started or
//! installed as saas-devdb's documentation says (what `scripts/ensure-postgres.sh` runs).
//! The URL goes to stdout, diagnostics to stderr; exit status 1 when no server could be had.

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
usage: ensure-postgres

Prints the URL of a PostgreSQL server for tests and development, trying in order:
SAAS_TEST_DATABASE_URL, DATABASE_URL (when they answer); the local server on 127.0.0.1:5432
(trust auth, user postgres; as root, Debian clusters there that are down are started);
the private cluster in $SAAS_PG_DIR (default /var/tmp/saas-pg) on $SAAS_PG_PORT (default
55432), started if needed (fsync off: for tests only). PostgreSQL is installed with apt-get
when missing (as root, or with sudo). SAAS_PG_SKIP_LOCAL=1 leaves the server on 5432 alone.";

fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        if arg == "-h" || arg == "--help" {
            // `| head` may close the pipe early: not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        eprintln!("ensure-postgres: unexpected argument `{arg}`\n\n{USAGE}");
        return ExitCode::from(2);
    }
    match saas_devdb::ensure_server_blocking() {
        Ok(url) => {
            println!("{url}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ensure-postgres: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `commwatch token new --name NAME --role ROLE`: a fresh bearer token, printed once, with the
//! `[[auth.tokens]]` lines to paste into the configuration (which keeps only its SHA-256, so a
//! leaked configuration leaks no token).

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use sha2::Digest;

#[derive(Subcommand)]
pub enum TokenAction {
    /// Make a new token for a person or a script.
    New {
        /// Who holds it, shown as the author of what they do ("truc-ban-1").
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

/// The roles, in increasing order: each may do what the ones before it may.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Read the pages and API when they are private.
    Viewer,
    /// Also acknowledge incidents and write drill notes.
    Officer,
    /// Also run drills and silences and reload the configuration.
    Admin,
}

impl RoleArg {
    fn as_str(self) -> &'static str {
        match self {
            RoleArg::Viewer => "viewer",
            RoleArg::Officer => "officer",
            RoleArg::Admin => "admin",
        }
    }
}

/// A new secret: 32 random bytes in hex, from the operating system's generator.
pub fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// The hex SHA-256 the configuration keeps for `secret`.
pub fn digest(secret: &str) -> String {
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Prints the token and the lines for the configuration; `Err` with a message for bad input.
pub fn run(action: TokenAction, out: &mut dyn Write) -> Result<(), String> {
    match action {
        TokenAction::New { name, role } => {
            // The configuration's own rule: any name but an empty one. It is written as a TOML
            // string, so quotes and backslashes in it are escaped.
            if name.trim().is_empty() {
                return Err("--name must not be empty".into());
            }
            let quoted = toml::Value::String(name.clone()).to_string();
            let token = secret();
            // A closed pipe loses the output, nothing else: the token is not stored anywhere.
            let _ = writeln!(
                out,
                "Token for {name} ({role}), shown only this once; give it to its holder:\n\n  {token}\n\n\
                 Add to the configuration, then reload (kill -HUP, or POST /-/reload):\n\n\
                 [[auth.tokens]]\nname = {quoted}\nrole = \"{role}\"\nsha256 = \"{digest}\"",
                role = role.as_str(),
                digest = digest(&token),
            );
            Ok(())
        }
    }
}

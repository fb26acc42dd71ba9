//! `bld login` / `bld logout`: credentials for a registry in Docker's `config.json`.

use std::io::Read;

use bld_registry::{Credentials, Endpoint};
use clap::Args;

use crate::Failure;

/// Arguments of `bld login`.
#[derive(Args)]
pub(crate) struct LoginArgs {
    /// The registry: `HOST[:PORT]` (Docker Hub when none is named).
    #[arg(value_name = "SERVER", default_value = "docker.io")]
    server: String,
    /// The user name.
    #[arg(long, short)]
    username: String,
    /// The password (visible to other users in the process list: prefer `--password-stdin`).
    #[arg(long, short, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    password_stdin: bool,
}

/// Arguments of `bld logout`.
#[derive(Args)]
pub(crate) struct LogoutArgs {
    /// The registry: `HOST[:PORT]` (Docker Hub when none is named).
    #[arg(value_name = "SERVER", default_value = "docker.io")]
    server: String,
}

/// `bld login`: checks the credentials against the registry, then records them.
pub(crate) fn login(args: LoginArgs) -> Result<(), Failure> {
    let password = match (args.password, args.password_stdin) {
        (Some(password), _) => password,
        (None, true) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::user(format!("cannot read the password from stdin: {e}")))?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => {
            return Err(Failure::user(
                "a password is needed: `--password-stdin` (or `-p`)".to_owned(),
            ));
        }
    };
    if password.is_empty() {
        return Err(Failure::user("the password is empty".to_owned()));
    }
    let credentials = Credentials {
        user: args.username,
        password,
    };
    Endpoint::registry(&args.server, credentials.clone())?.check_login()?;
    bld_registry::store_credentials(&args.server, &credentials)?;
    println!("Login Succeeded");
    Ok(())
}

/// `bld logout`: forgets the registry's credentials.
pub(crate) fn logout(args: LogoutArgs) -> Result<(), Failure> {
    if bld_registry::forget_credentials(&args.server)? {
        println!("Removing login credentials for {}", args.server);
    } else {
        println!("Not logged in to {}", args.server);
    }
    Ok(())
}

//! `ovmm api SOCKET METHOD PATH [BODY]`: one request to a running ovmm's control API, for
//! hosts without `curl --unix-socket` (the lab's emulated host has only busybox). Prints the
//! JSON answer on stdout; the exit status is 0 for a 2xx answer, 1 for any other answer or a
//! failed connection. `--raw` sends standard input unchanged and prints the answer unchanged
//! (for testing the server with malformed requests).

use std::io::{Read, Write};
use std::path::PathBuf;

/// `ovmm api` arguments.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// The API socket (ovmm's --api-socket).
    #[arg(value_name = "SOCKET")]
    pub socket: PathBuf,
    /// GET or PUT.
    #[arg(value_name = "METHOD", required_unless_present = "raw")]
    pub method: Option<String>,
    /// The endpoint: /vm, /vm/devices, /vm/pause, /vm/resume, /vm/power-off, /vm/reset.
    #[arg(value_name = "PATH", required_unless_present = "raw")]
    pub path: Option<String>,
    /// A JSON body.
    #[arg(value_name = "BODY")]
    pub body: Option<String>,
    /// Send standard input to the socket as it is and print the answer as it is.
    #[arg(long, conflicts_with_all = ["method", "path", "body"])]
    pub raw: bool,
}

/// Runs `ovmm api`; returns the exit status.
pub fn run(args: &ApiArgs) -> i32 {
    if args.raw {
        return raw(args);
    }
    let method = args.method.as_deref().unwrap_or("GET").to_uppercase();
    let path = args.path.as_deref().unwrap_or("/vm");
    match api::client::request(&args.socket, &method, path, args.body.as_deref()) {
        Ok(r) => {
            println!("{}", r.body);
            if (200..300).contains(&r.status) {
                0
            } else {
                eprintln!("ovmm api: {method} {path}: HTTP status {}", r.status);
                1
            }
        }
        Err(e) => {
            eprintln!("ovmm api: {e}");
            1
        }
    }
}

fn raw(args: &ApiArgs) -> i32 {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("ovmm api: cannot read standard input: {e}");
        return 1;
    }
    match api::client::exchange_raw(&args.socket, &input, true) {
        Ok(answer) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&answer);
            let _ = out.flush();
            0
        }
        Err(e) => {
            eprintln!("ovmm api: {e}");
            1
        }
    }
}

//! `canaryc explain CODE`: the long form of a diagnostic.

use super::{Env, Error, print_stdout};
use crate::diag::{Code, did_you_mean};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A code such as CNR301, or its name, such as traffic-not-increasing.
    #[arg(required_unless_present = "list")]
    code: Option<String>,

    /// List every code with its severity and name.
    #[arg(long, conflicts_with = "code")]
    list: bool,
}

pub(crate) fn run(args: &Args, _env: &Env) -> Result<(), Error> {
    if args.list {
        let mut out = String::new();
        for code in Code::ALL {
            out.push_str(&format!(
                "{}  {:<7}  {}\n",
                code.as_str(),
                code.severity().as_str(),
                code.slug()
            ));
        }
        print_stdout(&out);
        return Ok(());
    }
    let text = args.code.as_deref().unwrap_or_default();
    match Code::parse(text) {
        Some(code) => {
            print_stdout(code.explanation());
            Ok(())
        }
        None => {
            let names = Code::ALL.iter().map(|c| c.slug());
            let hint = did_you_mean(text, names)
                .unwrap_or_else(|| "`canaryc explain --list` shows every code".into());
            Err(Error::Usage(format!("no diagnostic code `{text}`; {hint}")))
        }
    }
}

//! `canaryc fmt`: rewrite plans in the canonical layout.

use std::io::Read as _;
use std::path::PathBuf;

use super::{Env, Error, print_stderr, print_stdout};
use crate::diag::render;
use crate::source::SourceMap;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Plans to format; `-` reads standard input and writes standard output.
    #[arg(default_value = "canary.plan")]
    files: Vec<PathBuf>,

    /// Write nothing: list the files that would change and exit 1 if any would.
    #[arg(long)]
    check: bool,
}

pub(crate) fn run(args: &Args, env: &Env) -> Result<(), Error> {
    let mut changed = Vec::new();
    let mut failed = false;
    for path in &args.files {
        let stdin = path.as_os_str() == "-";
        let text = if stdin {
            let mut text = String::new();
            if std::io::stdin().read_to_string(&mut text).is_err() {
                return Err(Error::Usage("standard input is not UTF-8 text".into()));
            }
            text
        } else {
            super::load::read_plan(path)?
        };
        match crate::fmt::format(&text) {
            Ok(formatted) => {
                if stdin {
                    if !args.check {
                        print_stdout(&formatted);
                    }
                    if formatted != text {
                        changed.push("-".to_string());
                    }
                } else if formatted != text {
                    changed.push(path.display().to_string());
                    if !args.check {
                        // Through a temporary file, so a failure never leaves half a plan.
                        let tmp = path.with_extension("plan.canaryc-fmt");
                        if let Err(e) = std::fs::write(&tmp, &formatted)
                            .and_then(|()| std::fs::rename(&tmp, path))
                        {
                            let _ = std::fs::remove_file(&tmp);
                            return Err(Error::Write(format!(
                                "cannot write {}: {e}",
                                path.display()
                            )));
                        }
                    }
                }
            }
            Err(diagnostics) => {
                failed = true;
                let mut sources = SourceMap::new();
                sources.add(path.display().to_string(), text);
                print_stderr(&render::human(&diagnostics, &sources, env.style, 100));
            }
        }
    }
    if args.check {
        for name in &changed {
            print_stdout(&format!("{name}\n"));
        }
    }
    if failed || (args.check && !changed.is_empty()) {
        Err(Error::Problems(None))
    } else {
        Ok(())
    }
}

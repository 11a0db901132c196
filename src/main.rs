fn main() -> std::process::ExitCode {
    canaryc::cli::run(std::env::args_os())
}

fn main() -> std::process::ExitCode {
    mittaphap::cli::main()
}

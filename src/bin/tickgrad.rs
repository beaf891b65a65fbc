fn main() {
    if let Err(e) = tickgrad::cli::main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

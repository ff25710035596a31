fn main() {
    std::process::exit(chinwag::cli::main());
}

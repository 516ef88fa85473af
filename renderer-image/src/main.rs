use std::process::ExitCode;

fn main() -> ExitCode {
    renderer_image::cli::main()
}

use observe_runtime::observe;

#[observe(stream = true)]
fn log(line: &str) {
    println!("{line}");
}

fn main() {
    log("x");
}

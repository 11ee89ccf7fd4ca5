use observe_runtime::observe;

#[observe(crate = "not a path")]
fn fetch(url: &str) -> usize {
    url.len()
}

fn main() {
    fetch("x");
}

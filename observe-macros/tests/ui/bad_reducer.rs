use observe_runtime::observe;

#[observe(output = "join")]
fn fetch(url: &str) -> usize {
    url.len()
}

fn main() {
    fetch("x");
}
